import { strict as assert } from 'assert';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { MSR } from '../../../emulator/machine/facts/msrs';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { IDT, KERNEL_CODE, KERNEL_DATA, KERNEL_STACK_TOP, TSS, USER_CODE, USER_STACK_TOP, asm, enterKernel, hex, testMachine } from './harness';
import { PTE } from '../../../emulator/machine/facts/paging';

const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

function flat(code: string): Machine {
  const m = new Machine(CPU_PROFILES.intel);
  m.mem.write(0x1000n, asm(code));
  m.state.rip = 0x1000n;
  m.state.gpr[4] = 0x8000n;
  return m;
}

describe('cpu: machine stepping', () => {
  it('runs patched code: a write into decoded code invalidates the decode cache', () => {
    const m = flat('mov $1, %eax\njmp .-5\n');
    m.step();
    assert.equal(m.state.gpr[0], 1n);
    m.step(); // jmp back
    m.mem.write(0x1001n, new Uint8Array([7])); // mov $7, %eax
    m.step();
    assert.equal(m.state.gpr[0], 7n);
  });

  it('an unimplemented instruction is a #UD naming it, and nothing changes', () => {
    const m = flat('mov $1, %eax\naddps %xmm1, %xmm0\n');
    m.step();
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.vector === 6 && /addps.*not implemented by kentry/.test(r.message), r2s(r));
    assert.equal(m.state.rip, 0x1005n);
    assert.equal(m.instructionsRetired, 1);
  });

  it('a fault in the middle of an instruction rolls it back (call to an unmapped stack)', () => {
    const { m } = testMachine({ kernel: 'call 1f\n1: nop\n' });
    enterKernel(m);
    m.state.gpr[4] = KERNEL_STACK_TOP - 0x4000n; // below the mapped stack after the push
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.errorCode === 0x2, r2s(r));
    assert.equal(m.state.rip, KERNEL_CODE);
    assert.equal(m.state.gpr[4], KERNEL_STACK_TOP - 0x4000n);
  });

  it('push/pop forms: imm (sign-extended), memory, and pushfq clears RF/VM in the image', () => {
    const m = flat('pushq $-1\npushq 0x2000\npopq %rbx\npopq %rcx\npushfq\npopq %rdx\n');
    m.mem.writeU64(0x2000n, 0x1122334455667788n);
    m.state.rflags = 0x10202n;
    for (let i = 0; i < 6; i++) assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[3], 0x1122334455667788n);
    assert.equal(m.state.gpr[1], 0xffffffffffffffffn);
    assert.equal(hex(m.state.gpr[2]), hex(0x202n));
    assert.equal(m.state.gpr[4], 0x8000n);
  });

  it('call/ret and ret $imm16', () => {
    const m = flat('call f\nhlt\nf: ret $16\n');
    m.step();
    assert.equal(m.state.gpr[4], 0x7ff8n);
    m.step();
    assert.equal(m.state.rip, 0x1005n);
    assert.equal(m.state.gpr[4], 0x8010n);
    assert.equal(m.step().kind, 'halt');
  });

  it('rep stosq and rep movsb, with DF', () => {
    const m = flat('rep stosq\nstd\nrep movsb\n');
    m.state.gpr[0] = 0xababababababababn;
    m.state.gpr[1] = 4n;
    m.state.gpr[7] = 0x3000n;
    m.step();
    assert.equal(m.mem.readU64(0x3018n), 0xababababababababn);
    assert.equal(m.state.gpr[7], 0x3020n);
    assert.equal(m.state.gpr[1], 0n);
    m.step();
    m.state.gpr[1] = 2n;
    m.state.gpr[6] = 0x3001n;
    m.state.gpr[7] = 0x4001n;
    m.step();
    assert.equal(m.mem.readU64(0x4000n) & 0xffffn, 0xababn);
    assert.equal(m.state.gpr[7], 0x3fffn);
  });

  it('segment-override memory operands use the FS/GS bases', () => {
    const m = flat('mov %gs:8, %rax\nmov %rax, %fs:0x10\n');
    m.state.seg.gs.base = 0x5000n;
    m.state.seg.fs.base = 0x6000n;
    m.mem.writeU64(0x5008n, 42n);
    m.step();
    m.step();
    assert.equal(m.mem.readU64(0x6010n), 42n);
  });

  it('RDMSR/WRMSR: FS/GS_BASE are the segment bases; unknown MSRs and CPL 3 are #GP(0)', () => {
    const m = flat('wrmsr\nrdmsr\nrdmsr\n');
    m.state.gpr[1] = BigInt(MSR.GS_BASE);
    m.state.gpr[2] = 0xffff8880n;
    m.state.gpr[0] = 0x1000n;
    m.step();
    assert.equal(m.state.seg.gs.base, 0xffff888000001000n);
    m.state.gpr[0] = 0n; m.state.gpr[2] = 0n;
    m.step();
    assert.equal(m.state.gpr[2], 0xffff8880n);
    m.state.gpr[1] = 0x1234n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    const { m: u } = testMachine({ user: 'rdmsr\n' });
    const ru = u.step();
    assert.ok(ru.kind === 'exception' && ru.name === '#GP', r2s(ru));
  });

  it('CPUID answers from the profile: vendor string and LA57/PCID bits', () => {
    const vendor = (p: keyof typeof CPU_PROFILES): string => {
      const m = new Machine(CPU_PROFILES[p]);
      m.mem.write(0x1000n, asm('cpuid\n'));
      m.state.rip = 0x1000n;
      m.step();
      const b = m.state.gpr;
      return [b[3], b[2], b[1]].map((r) => Buffer.from([0, 8, 16, 24].map((s) => Number((r >> BigInt(s)) & 0xffn))).toString('latin1')).join('');
    };
    assert.equal(vendor('intel'), 'GenuineIntel');
    assert.equal(vendor('amd'), 'AuthenticAMD');
    const m = new Machine(CPU_PROFILES['intel-la57']);
    m.mem.write(0x1000n, asm('cpuid\n'));
    m.state.rip = 0x1000n;
    m.state.gpr[0] = 7n;
    m.step();
    assert.equal((m.state.gpr[1] >> 16n) & 1n, 1n, 'CPUID.7.0:ECX.LA57');
  });

  it('MOV to CR4: setting a feature the profile lacks is #GP(0); PCIDE needs CR3[11:0]=0', () => {
    const m = flat('mov %rax, %cr4\n');
    m.state.gpr[0] = m.state.cr4 | (1n << 12n); // LA57 on a non-LA57 profile
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
    const n = new Machine(CPU_PROFILES.amd);
    n.mem.write(0x1000n, asm('mov %rax, %cr4\n'));
    n.state.rip = 0x1000n;
    n.state.gpr[0] = n.state.cr4 | (1n << 17n);
    const r2 = n.step();
    assert.ok(r2.kind === 'exception' && /PCID/.test(r2.message), r2s(r2));
  });

  it('readVirtual/writeVirtual: user view refuses supervisor pages; no onMemoryWrite', () => {
    const { m } = testMachine();
    let writes = 0;
    m.onMemoryWrite = () => writes++;
    const f = m.readVirtual(KERNEL_DATA, 8, { user: true });
    assert.ok(!(f instanceof Uint8Array) && f.name === '#PF');
    assert.equal(m.writeVirtual(KERNEL_CODE, new Uint8Array([0x90])), undefined, 'the debugger may patch read-only text');
    assert.deepEqual(m.readVirtual(KERNEL_CODE, 1), new Uint8Array([0x90]));
    assert.equal(writes, 0);
    assert.equal(m.tlb.size, 0, 'no TLB fill');
  });

  it('HLT halts at CPL 0 and is #GP at CPL 3', () => {
    assert.equal(flat('hlt\n').step().kind, 'halt');
    const { m } = testMachine({ user: 'hlt\n' });
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP');
  });
});

describe('cpu: exception delivery through the IDT', () => {
  function gate(handler: bigint, ist = 0, dpl = 0): [bigint, bigint] {
    const lo = (handler & 0xffffn) | (BigInt(SELECTOR.__KERNEL_CS) << 16n) | (BigInt(ist) << 32n) | (BigInt(0x8e | (dpl << 5)) << 40n) | (((handler >> 16n) & 0xffffn) << 48n);
    return [lo, handler >> 32n];
  }

  it('a user #PF switches to TSS.sp0, pushes SS RSP RFLAGS CS RIP error code, sets CR2', () => {
    const { m } = testMachine({ user: 'mov (%rbx), %rax\n', kernel: 'nop\n' });
    m.deliverExceptions = true;
    m.state.idtr = { base: IDT, limit: 256 * 16 - 1 };
    const [lo, hi] = gate(KERNEL_CODE);
    m.writeVirtual(IDT + 14n * 16n, new Uint8Array([...Buffer.from(lo.toString(16).padStart(16, '0'), 'hex').reverse(), ...Buffer.from(hi.toString(16).padStart(16, '0'), 'hex').reverse()]));
    m.state.gpr[3] = KERNEL_DATA;
    const r = m.step();
    assert.equal(r.kind, 'ok', r2s(r));
    const s = m.state;
    assert.equal(s.rip, KERNEL_CODE);
    assert.equal(s.cpl, 0);
    assert.equal(s.cr2, KERNEL_DATA);
    assert.equal(s.gpr[4], KERNEL_STACK_TOP - 48n);
    const frame = [0, 1, 2, 3, 4, 5].map((i) => m.readU64Virtual(s.gpr[4] + BigInt(8 * i)));
    assert.deepEqual(frame, [5n, USER_CODE, BigInt(SELECTOR.__USER_CS), 0x246n, USER_STACK_TOP - 0x100n, BigInt(SELECTOR.__USER_DS)]);
    assert.equal(s.rflags & 0x200n, 0n, 'interrupt gate clears IF');
  });

  it('faults while delivering escalate to #DF on its IST stack; with no #DF gate it is a triple fault', () => {
    const { m } = testMachine({ user: 'ud2\n' });
    m.deliverExceptions = true;
    m.state.idtr = { base: IDT, limit: 256 * 16 - 1 };
    const [lo, hi] = gate(KERNEL_CODE, 1);
    const buf = new Uint8Array(16);
    new DataView(buf.buffer).setBigUint64(0, lo, true);
    new DataView(buf.buffer).setBigUint64(8, hi, true);
    m.writeVirtual(IDT + 8n * 16n, buf);
    const ist1 = KERNEL_DATA + 0x5000n;
    m.writeVirtual(TSS + 36n, new Uint8Array(new BigUint64Array([ist1]).buffer));
    // #UD has no gate -> #NP(IDT 6) (benign then contributory: delivered serially); #NP has no
    // gate either -> #NP(IDT 11) (contributory twice) -> #DF, which has a gate on IST1.
    const r = m.step();
    assert.equal(r.kind, 'ok', r2s(r));
    assert.equal(m.state.rip, KERNEL_CODE);
    assert.equal(m.state.gpr[4], ist1 - 48n, '#DF ran on the IST1 stack with an error code');
    assert.equal(m.readU64Virtual(m.state.gpr[4]), 0n, '#DF error code is 0');
    assert.equal(m.readU64Virtual(m.state.gpr[4] + 8n), USER_CODE, 'saved RIP is the faulting ud2');
    const t = testMachine({ user: 'ud2\n' }).m;
    t.deliverExceptions = true;
    t.state.idtr = { base: IDT, limit: 256 * 16 - 1 };
    const tf = t.step();
    assert.equal(tf.kind, 'triple-fault', r2s(tf));
  });
});

describe('cpu: machine snapshots', () => {
  it('restore() brings back registers, memory, the TLB (stale entries included) and re-decodes patched code', () => {
    const { m, pt } = testMachine({ kernel: 'mov (%rbx), %rax\nmov $1, %ecx\n' });
    enterKernel(m);
    const page = KERNEL_STACK_TOP - 0x4000n;
    m.state.gpr[3] = page;
    m.mem.writeU64(0x500000n, 0x11n);
    m.step(); // TLB now maps page -> 0x500000
    const snap = m.snapshot();
    const pte = pt.pteAddress(page);
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK) | 0x501000n); // stale from here on
    m.mem.write(0x200004n, new Uint8Array([2])); // patch the immediate: mov $2, %ecx
    m.step();
    assert.equal(m.state.gpr[1], 2n);
    m.tlb.flushAll(true);
    m.restore(snap);
    assert.equal(m.state.rip, KERNEL_CODE + 3n);
    assert.equal(m.mem.readU64(pte) & PTE.ADDR_MASK, 0x500000n, 'PTE restored');
    m.step();
    assert.equal(m.state.gpr[1], 1n, 'the unpatched instruction runs again');
    m.state.rip = KERNEL_CODE;
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK) | 0x501000n);
    m.step();
    assert.equal(m.state.gpr[0], 0x11n, 'the restored TLB still holds the old translation');
  });
});

describe('cpu: fetch shortcuts stay honest', () => {
  it('a code page made NX (then INVLPG) faults on the next fetch; a CR3 switch without NOFLUSH re-walks', () => {
    const { m, pt } = testMachine({ user: '1: nop\njmp 1b\n' });
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.step().kind, 'ok');
    const pte = pt.pteAddress(USER_CODE);
    m.mem.writeU64(pte, m.mem.readU64(pte) | PTE.NX);
    assert.equal(m.step().kind, 'ok', 'the TLB still holds the executable translation');
    m.tlb.invlpg(USER_CODE, 1);
    m.tlb.invlpg(USER_CODE, 0);
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.errorCode === 0x15, r2s(r));
  });

  it('after WRMSR clears EFER.NXE, an NX bit is a reserved bit: fetching there is #PF with RSVD', () => {
    const { m } = testMachine({ kernel: 'wrmsr\njmp *%rbx\n' });
    enterKernel(m);
    m.mem.write(0x400000n + 0x5000n, asm('nop\n'));
    m.state.gpr[1] = BigInt(MSR.EFER);
    m.state.gpr[0] = 0x501n; // SCE LME (LMA kept), NXE cleared
    m.state.gpr[3] = KERNEL_DATA + 0x5000n; // a data page mapped NX
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.step().kind, 'ok');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.errorCode === (0x1 | 0x8 | 0x10) && /reserved/.test(r.message), r2s(r));
  });
});
