import { strict as assert } from 'assert';
import { CR3, MSR, SELECTOR } from '../../../emulator/machine/facts';
import { PTE } from '../../../emulator/machine/facts/paging';
import { bootSystem, lookupLeaf, type BootedSystem } from '../../../emulator/kernel';
import { bootWithGnu } from './boot-helpers';

const mapped = (sys: BootedSystem, pgd: bigint, va: bigint): bigint | undefined => lookupLeaf(sys.machine.mem, pgd, va);
const sym = (sys: BootedSystem, name: string): bigint => {
  const v = sys.kernelImage.symbols.get(name) ?? sys.userImage.symbols.get(name);
  assert.ok(v !== undefined, `symbol ${name}`);
  return v;
};

describe('kernel boot (Linux 5.8 on an Intel CPU: KPTI + PCID)', () => {
  let sys: BootedSystem;
  before(() => {
    sys = bootWithGnu('intel');
  });

  it('starts the program in ring 3 on the user page table with the user PCID', () => {
    const s = sys.machine.state;
    assert.equal(s.cpl, 3);
    assert.equal(s.rip, sym(sys, '_start'));
    assert.equal(s.seg.cs.selector, SELECTOR.__USER_CS);
    assert.equal(sys.layout.userPgd, sys.layout.kernelPgd + 0x1000n);
    assert.equal(sys.layout.kernelPgd % 0x2000n, 0n, '8 KiB-aligned PGD pair');
    assert.equal(s.cr3, sys.layout.userPgd | 0x801n);
    assert.ok(sys.pti && sys.pcid);
  });

  it('programs SYSCALL as syscall_init does and keeps the per-CPU base in KERNEL_GS_BASE', () => {
    const m = sys.machine.state.msrs;
    assert.equal(m.get(MSR.LSTAR), sym(sys, 'entry_SYSCALL_64'));
    assert.equal(m.get(MSR.STAR), 0x0023001000000000n);
    assert.equal(m.get(MSR.SYSCALL_MASK), 0x47700n);
    assert.equal(m.get(MSR.KERNEL_GS_BASE), sys.layout.perCpuBase);
    assert.equal(sys.machine.state.seg.gs.base, 0n);
    assert.equal((m.get(MSR.EFER) ?? 0n) & 0xd01n, 0xd01n, 'SCE LME LMA NXE');
  });

  it('fills cpu_tss_rw: sp0 = trampoline stack top, sp1 = task stack top', () => {
    const read = (off: bigint): bigint => {
      const v = sys.machine.readU64Virtual(sys.layout.tssAddress + off);
      assert.equal(typeof v, 'bigint');
      return v as bigint;
    };
    // Debugger reads go through the current (user) CR3: cpu_tss_rw is mapped there.
    assert.equal(read(4n), sys.layout.entryStackTop);
    assert.equal(read(12n), sys.layout.taskStackTop);
    assert.equal(sys.layout.taskStackTop - sys.layout.taskStackBottom, 0x4000n);
  });

  it('user PGD maps the program, .entry.text, cpu_entry_area and cpu_tss_rw, but no other kernel memory', () => {
    const { userPgd } = sys.layout;
    assert.ok(mapped(sys, userPgd, sym(sys, '_start')), 'user program');
    assert.ok(mapped(sys, userPgd, sym(sys, 'entry_SYSCALL_64')), '.entry.text');
    assert.ok(mapped(sys, userPgd, sys.layout.tssAddress), 'cpu_tss_rw page');
    assert.ok(mapped(sys, userPgd, sys.layout.entryStackBottom), 'trampoline stack');
    assert.ok(mapped(sys, userPgd, sys.layout.gdtAlias), 'GDT in cpu_entry_area');
    const doSyscall = [...sys.models.keys()][0];
    assert.equal(mapped(sys, userPgd, doSyscall), undefined, 'kernel .text (do_syscall_64) is not mapped');
    assert.equal(mapped(sys, userPgd, sys.layout.taskStackTop - 8n), undefined, 'task stack is not mapped');
    assert.equal(mapped(sys, userPgd, sys.layout.perCpuBase + 0x6000n), undefined, 'cpu_tlbstate is not mapped');
  });

  it('kernel PGD maps everything, with the user half non-executable', () => {
    const { kernelPgd } = sys.layout;
    assert.ok(mapped(sys, kernelPgd, [...sys.models.keys()][0]));
    assert.ok(mapped(sys, kernelPgd, sys.layout.taskStackTop - 8n));
    assert.ok(mapped(sys, kernelPgd, sys.layout.perCpuBase + 0x6000n));
    const pgdEntry = sys.machine.mem.readU64(kernelPgd + ((sym(sys, '_start') >> 39n) & 0x1ffn) * 8n);
    assert.ok(pgdEntry & PTE.NX, 'user half NX in the kernel PGD');
    assert.ok(pgdEntry & PTE.US);
  });

  it('entry text is read-only and executable for the kernel only', () => {
    const e = mapped(sys, sys.layout.userPgd, sym(sys, 'entry_SYSCALL_64')) as bigint;
    assert.equal(e & PTE.US, 0n);
    assert.equal(e & PTE.RW, 0n);
    assert.equal(e & PTE.NX, 0n);
    assert.equal(CR3.PTI_USER_PGTABLE_MASK, 0x1000n);
  });
});

describe('kernel boot on AMD (no Meltdown: no PTI; no PCID)', () => {
  it('uses one page table for user and kernel, without PCID', () => {
    const sys = bootWithGnu('amd');
    assert.ok(!sys.pti && !sys.pcid);
    assert.equal(sys.layout.userPgd, sys.layout.kernelPgd);
    assert.equal(sys.machine.state.cr3, sys.layout.kernelPgd);
    assert.ok(lookupLeaf(sys.machine.mem, sys.layout.kernelPgd, sys.userEntry));
    assert.match(sys.featureReasons.get('PTI') ?? '', /AMD/);
  });
});

describe('kernel boot: bad input becomes diagnostics', () => {
  it('a kernel without entry_SYSCALL_64 is refused with a message, not an exception', () => {
    const sys = bootWithGnu('intel');
    const r = bootSystem({
      profile: sys.profile, config: sys.config, cpu: sys.cpu, kernel: [], user: { sections: new Map(), symbols: new Map(), relocations: [], lines: [], diagnostics: [], files: [] },
      link: () => ({ segments: [], symbols: new Map(), lines: [], diagnostics: [] }),
    });
    assert.ok('errors' in r);
    assert.match(r.errors[0].message, /entry_SYSCALL_64/);
  });

  it('a linker that throws is reported as a boot error', () => {
    const sys = bootWithGnu('intel');
    const r = bootSystem({
      profile: sys.profile, config: sys.config, cpu: sys.cpu, kernel: [], user: { sections: new Map(), symbols: new Map(), relocations: [], lines: [], diagnostics: [], files: [] },
      link: () => {
        throw new Error('boom');
      },
    });
    assert.ok('errors' in r);
    assert.match(r.errors[0].message, /boot: boom/);
  });
});
