/**
 * LA57 boot (5-level page tables, Linux's 5-level layout) and the booted kernel's IDT
 * (exception gates, IST stacks), including #DF and triple fault when delivery itself faults.
 */
import { strict as assert } from 'assert';
import { CR4_FIELDS, bitMask } from '../../../emulator/machine/facts';
import { walk } from '../../../emulator/machine/paging';
import { GPR_INDEX } from '../../../emulator/machine/state';
import { lookupLeaf, stepSystem, type BootedSystem } from '../../../emulator/kernel';
import { IST, deliverReportedFault } from '../../../emulator/kernel/idt';
import { bootWithGnu } from './boot-helpers';

const LA57 = bitMask(CR4_FIELDS.find((f) => f.name === 'LA57') as (typeof CR4_FIELDS)[number]);
const withCr3 = (sys: BootedSystem, pgd: bigint): typeof sys.machine.state => ({ ...sys.machine.state, cr3: pgd });

/** Step until back in ring 3 after the first syscall; the kernel instructions' disassembly. */
function runFirstSyscall(sys: BootedSystem): string[] {
  const texts: string[] = [];
  let wasKernel = false;
  for (let i = 0; i < 3000; i++) {
    const s = sys.machine.state;
    if (s.cpl === 0) {
      wasKernel = true;
      const sym = [...sys.kernelImage.symbols].find(([, a]) => a === s.rip);
      if (sym) texts.push(`<${sym[0]}>`);
      const bytes = sys.machine.readVirtual(s.rip, 4);
      if (bytes instanceof Uint8Array) texts.push([...bytes].map((b) => b.toString(16).padStart(2, '0')).join(''));
    } else if (wasKernel) return texts;
    const r = stepSystem(sys);
    if (r.kind === 'cpu' && r.result.kind !== 'ok') assert.fail(`${r.result.kind} at 0x${s.rip.toString(16)}`);
  }
  return assert.fail('no return to ring 3');
}

describe('LA57 boot: intel-la57 CPU, X86_5LEVEL=y', () => {
  let sys: BootedSystem;
  before(() => {
    sys = bootWithGnu('intel-la57', { config: { X86_5LEVEL: true } });
  });

  it('boots with CR4.LA57, 5-level tables and LA57 among the features, with the reason', () => {
    assert.equal(sys.pagingLevels, 5);
    assert.ok(sys.machine.state.cr4 & LA57, 'CR4.LA57');
    assert.ok(sys.features.has('LA57'));
    assert.match(sys.featureReasons.get('LA57') ?? '', /^set: .*X86_5LEVEL.*CR4\.LA57/);
    assert.equal(sys.layout.userPgd, sys.layout.kernelPgd + 0x1000n, 'KPTI pair: the user PGD 4 KiB above');
  });

  it('uses the 5-level direct map and vmalloc bases (mm.rst): per-CPU area and task stack move, cpu_entry_area stays', () => {
    assert.equal(sys.layout.perCpuBase >> 48n, 0xff11n);
    assert.equal(sys.layout.taskStackBottom >> 52n, 0xffan);
    assert.equal(sys.layout.cpuEntryArea, 0xfffffe0000001000n);
    assert.equal(sys.profile.layout.virtualMaskShift, 56);
  });

  it('page walks go through 5 levels in both halves, in both page tables', () => {
    const { kernelPgd, userPgd, perCpuBase, userStackBottom, entryStackBottom } = sys.layout;
    for (const [pgd, va] of [[kernelPgd, perCpuBase], [kernelPgd, sys.userEntry], [userPgd, sys.userEntry], [userPgd, userStackBottom], [userPgd, entryStackBottom], [kernelPgd, entryStackBottom]] as const) {
      const w = walk(withCr3(sys, pgd), sys.machine.mem, va);
      assert.deepEqual(w.levels.map((l) => l.name), ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'], `0x${va.toString(16)}`);
      assert.ok(w.phys !== undefined, `0x${va.toString(16)}: ${w.problem}`);
      assert.ok(lookupLeaf(sys.machine.mem, pgd, va, 5));
    }
    // The user page table holds the cpu_entry_area but not the direct map (pti_clone_p4d shares one P4D entry only).
    assert.equal(walk(withCr3(sys, userPgd), sys.machine.mem, perCpuBase).phys, undefined);
    assert.equal(walk(withCr3(sys, userPgd), sys.machine.mem, sys.layout.taskStackBottom).phys, undefined);
  });

  it('the entry code takes the 57-bit canonical check (shl/sar by 7) and returns by SYSRET', () => {
    const alt = sys.alternatives.find((a) => a.feature === 'LA57');
    assert.ok(alt, 'an ALTERNATIVE on X86_FEATURE_LA57');
    assert.ok(alt.applied, 'patched in');
    const ran = runFirstSyscall(sys).join(' ');
    assert.match(ran, /48c1e107/, 'shl $7, %rcx');
    assert.match(ran, /48c1f907/, 'sar $7, %rcx');
    assert.doesNotMatch(ran, /48c1e110/, 'no shl $16, %rcx');
    assert.equal(sys.machine.state.cpl, 3);
    assert.equal(sys.machine.state.gpr[GPR_INDEX.rax], 4242n);
  });

  it('without X86_5LEVEL the same CPU boots 4-level paging', () => {
    const four = bootWithGnu('intel-la57');
    assert.equal(four.pagingLevels, 4);
    assert.equal(four.machine.state.cr4 & LA57, 0n);
    assert.equal(four.layout.perCpuBase >> 40n, 0xffff88n);
  });
});

describe('IDT of the booted kernel', () => {
  let sys: BootedSystem;
  beforeEach(() => {
    sys = bootWithGnu('intel');
  });
  const stub = (name: string): bigint => sys.kernelImage.symbols.get(`kentry_exc_${name}`) as bigint;
  const tssIst = (n: number): bigint => sys.machine.readU64Virtual(sys.layout.tssAlias + 36n + BigInt(8 * (n - 1))) as bigint;
  const pfAtUser = () => ({ vector: 14, message: '#PF: test', errorCode: 4, cr2: 0x10n, rip: sys.machine.state.rip });

  it('IDTR holds the read-only cpu_entry_area IDT; #DF/NMI/#DB/#MC use IST1-4 from the TSS, mapped in the user page table too', () => {
    const s = sys.machine.state;
    assert.equal(s.idtr.base, 0xfffffe0000000000n);
    assert.equal(s.idtr.limit, 0xfff);
    assert.equal(sys.idt.stubs.size, 32);
    for (const [name, n] of Object.entries(IST)) {
      const top = tssIst(n);
      assert.equal(top, sys.idt.istStacks.find((x) => x.name === name)?.top);
      assert.ok(lookupLeaf(sys.machine.mem, sys.layout.userPgd, top - 8n), `IST${n} (${name}) in the user page table`);
      assert.equal(lookupLeaf(sys.machine.mem, sys.layout.userPgd, top - 0x1008n), undefined, `guard page below IST${n}`);
    }
    assert.ok(lookupLeaf(sys.machine.mem, sys.layout.userPgd, s.idtr.base), 'IDT page with the user CR3');
  });

  it('a #PF from ring 3 goes to its handler stub on the entry stack (TSS.sp0), with the error code and CR2', () => {
    const r = deliverReportedFault(sys.machine, pfAtUser());
    assert.deepEqual(r, { kind: 'delivered', vector: 14 });
    const s = sys.machine.state;
    assert.equal(s.rip, stub('page_fault'));
    assert.equal(s.cpl, 0);
    assert.equal(s.cr2, 0x10n);
    assert.equal(s.gpr[GPR_INDEX.rsp], sys.layout.entryStackTop - 48n);
    assert.equal(sys.machine.readU64Virtual(s.gpr[GPR_INDEX.rsp]), 4n, 'error code on top');
    const next = stepSystem(sys);
    assert.ok(next.kind === 'cpu' && next.result.kind === 'halt', 'the stub halts');
  });

  it('a #PF while delivering (TSS.sp0 unmapped) becomes #DF on IST1; a fault delivering #DF (IST1 unmapped) is a triple fault', () => {
    const tssPhys = lookupLeaf(sys.machine.mem, sys.layout.kernelPgd, sys.layout.tssAlias) as bigint;
    const tssField = (off: number): bigint => (tssPhys & 0xffffffffff000n) + BigInt(off);
    sys.machine.mem.writeU64(tssField(4), 0xffffc90000000000n); // sp0 -> unmapped vmalloc space
    const r = deliverReportedFault(sys.machine, pfAtUser());
    assert.deepEqual(r, { kind: 'delivered', vector: 8 });
    assert.equal(sys.machine.state.rip, stub('double_fault'));
    assert.equal(sys.machine.state.gpr[GPR_INDEX.rsp], tssIst(IST.DF) - 48n);

    const again = bootWithGnu('intel');
    const phys2 = lookupLeaf(again.machine.mem, again.layout.kernelPgd, again.layout.tssAlias) as bigint;
    again.machine.mem.writeU64((phys2 & 0xffffffffff000n) + 4n, 0xffffc90000000000n);
    again.machine.mem.writeU64((phys2 & 0xffffffffff000n) + 36n, 0xffffc90000000000n); // IST1 too
    const t = deliverReportedFault(again.machine, { vector: 14, message: '#PF: test', errorCode: 4, cr2: 0x10n, rip: again.machine.state.rip });
    assert.equal(t.kind, 'triple-fault');
  });
});
