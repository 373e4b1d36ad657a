/**
 * Instructions the real entry code (Linux 5.8/6.1/6.12 entry_64.S, with its ALTERNATIVEs) runs
 * that the first executor lacked, and the interrupt shadow the entry code relies on.
 */
import { strict as assert } from 'assert';
import { CPU_PROFILES, type CpuProfile } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { GDT, KERNEL_CODE, asm, enterKernel, hex, testMachine } from './harness';

const ZF = 0x40n;
const TF = 0x100n;
const IF = 0x200n;
const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));
/** Linux's GDT_ENTRY_CPUNODE (15): user data, byte granular, limit = (node << 12) | cpu. */
const CPUNODE_SEL = 15 * 8 + 3;
function cpunodeDescriptor(cpu: number, node: number): bigint {
  const limit = BigInt((node << 12) | cpu);
  return (limit & 0xffffn) | (0xf3n << 40n) | (((limit >> 16n) & 0xfn) << 48n) | (0x4n << 52n);
}

describe('cpu: entry-code instructions (LSL/LAR/VERR, RDPID, LZCNT by profile)', () => {
  it('LSL of __CPUNODE_SEG gives (node << 12) | cpu with ZF=1, as GET_PERCPU_BASE expects without RDPID', () => {
    const { m } = testMachine({ kernel: 'movq $0x7b, %rax\nlsl %rax, %rax\nlsl %bx, %cx\n' });
    enterKernel(m);
    m.mem.writeU64(0x400000n + 15n * 8n, cpunodeDescriptor(5, 1));
    m.state.gpr[1] = 0x1234n;
    m.state.gpr[3] = 0n; // null selector
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.step().kind, 'ok');
    assert.equal(hex(m.state.gpr[0]), '0x1005');
    assert.equal(m.state.rflags & ZF, ZF);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rflags & ZF, 0n, 'null selector: ZF=0');
    assert.equal(m.state.gpr[1], 0x1234n, 'destination unchanged when ZF=0');
  });

  it('LSL from user mode: the DPL-3 per-CPU segment is visible, the kernel data segment is not; G scales the limit', () => {
    const { m } = testMachine({ user: `mov $${CPUNODE_SEL}, %eax\nlsl %eax, %ebx\nmov $${SELECTOR.__KERNEL_DS}, %ecx\nlsl %ecx, %edx\nmov $${SELECTOR.__USER_DS}, %esi\nlsl %esi, %edi\n` });
    m.mem.writeU64(0x400000n + 15n * 8n, cpunodeDescriptor(3, 0));
    m.state.gpr[2] = 0x99n;
    for (let i = 0; i < 2; i++) assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[3], 3n);
    for (let i = 0; i < 2; i++) assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rflags & ZF, 0n, 'kernel DS (DPL 0) is invisible at CPL 3');
    assert.equal(m.state.gpr[2], 0x99n);
    for (let i = 0; i < 2; i++) assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rflags & ZF, ZF);
    assert.equal(hex(m.state.gpr[7]), '0xffffffff', 'a 4 GiB page-granular limit');
  });

  it('LAR returns the access rights of a code segment and of the 64-bit TSS; VERR accepts data and readable code', () => {
    const { m } = testMachine({ kernel: `lar %ax, %ebx\nlar %cx, %edx\nverr %ax\n` });
    enterKernel(m);
    m.state.gpr[0] = BigInt(SELECTOR.__KERNEL_CS);
    m.state.gpr[1] = BigInt(SELECTOR.TSS);
    for (let i = 0; i < 3; i++) assert.equal(m.step().kind, 'ok');
    const csHigh = (m.readU64Virtual(GDT + BigInt(SELECTOR.__KERNEL_CS)) as bigint) >> 32n;
    assert.equal(hex(m.state.gpr[3]), hex(csHigh & 0x00f0ff00n));
    assert.equal(hex(m.state.gpr[2] & 0x1f00n), '0x900', 'available 64-bit TSS (type 9, S=0)');
    assert.equal(m.state.rflags & ZF, ZF, 'kernel code is readable');
  });

  it('RDPID is #UD on the Skylake-like intel profile (Linux uses LSL there) and reads TSC_AUX on amd', () => {
    for (const [profile, want] of [[CPU_PROFILES.intel, 'ud'], [CPU_PROFILES.amd, 'ok'], [CPU_PROFILES['intel-la57'], 'ok']] as const) {
      const { m } = testMachine({ profile, kernel: 'rdpid %rax\n' });
      enterKernel(m);
      m.state.msrs.set(0xc0000103, 0x1007n);
      const r = m.step();
      if (want === 'ud') assert.ok(r.kind === 'exception' && r.name === '#UD' && /RDPID/.test(r.message), r2s(r));
      else { assert.equal(r.kind, 'ok', profile.name); assert.equal(m.state.gpr[0], 0x1007n); }
    }
  });

  it('LZCNT runs as BSR on a profile without ABM (the F3 prefix is ignored), and as LZCNT with it', () => {
    const noAbm: CpuProfile = { ...CPU_PROFILES.intel, name: 'no-abm', features: new Set([...CPU_PROFILES.intel.features].filter((f) => f !== 'ABM')) };
    for (const [profile, want] of [[CPU_PROFILES.intel, 63n], [noAbm, 0n]] as const) {
      const m = new Machine(profile);
      m.mem.write(0x1000n, asm('lzcnt %rbx, %rax'));
      m.state.rip = 0x1000n;
      m.state.gpr[3] = 1n;
      assert.equal(m.step().kind, 'ok');
      assert.equal(m.state.gpr[0], want, profile.name);
    }
  });
});

describe('cpu: interrupt shadow (STI, MOV SS) and external interrupts', () => {
  /** Kernel code with an IDT whose vector 0x20 handler is at KERNEL_CODE + 0x800. */
  function withIdt(kernel: string): Machine {
    const { m } = testMachine({ kernel: `${kernel}\n.org 0x800\nhlt\n` });
    enterKernel(m);
    const idt = GDT + 0x1000n; // harness IDT page
    const handler = KERNEL_CODE + 0x800n;
    const lo = (handler & 0xffffn) | (BigInt(SELECTOR.__KERNEL_CS) << 16n) | (0x8en << 40n) | (((handler >> 16n) & 0xffffn) << 48n);
    m.writeVirtual(idt + 0x20n * 16n, new Uint8Array(new BigUint64Array([lo, handler >> 32n]).buffer));
    m.state.idtr = { base: idt, limit: 256 * 16 - 1 };
    m.deliverExceptions = true;
    return m;
  }

  it('an interrupt raised while IF=0 is taken only after the instruction that follows STI', () => {
    const m = withIdt('sti\nnop\nnop\n');
    m.requestInterrupt(0x20);
    assert.equal(m.step().kind, 'ok'); // sti
    assert.equal(m.state.rip, KERNEL_CODE + 1n);
    assert.equal(m.step().kind, 'ok'); // nop runs inside the STI shadow
    assert.equal(m.state.rip, KERNEL_CODE + 2n);
    assert.equal(m.step().kind, 'ok'); // now the interrupt is delivered
    assert.equal(m.state.rip, KERNEL_CODE + 0x800n);
    assert.equal(m.readU64Virtual(m.state.gpr[4]), KERNEL_CODE + 2n, 'the frame returns to the second nop');
    assert.equal(m.state.rflags & IF, 0n, 'an interrupt gate clears IF');
  });

  it('sti; hlt cannot miss the wakeup: HLT executes, then the interrupt wakes the CPU', () => {
    const m = withIdt('sti\nhlt\nnop\n');
    m.requestInterrupt(0x21 - 1);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.step().kind, 'halt');
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rip, KERNEL_CODE + 0x800n);
    assert.equal(m.readU64Virtual(m.state.gpr[4]), KERNEL_CODE + 2n);
  });

  it('MOV SS holds back the single-step trap: one #DB after the following instruction', () => {
    const { m: tm } = testMachine({ kernel: `mov %ax, %ss\nmov %rbx, %rsp\nnop\n` });
    enterKernel(tm);
    tm.state.gpr[0] = BigInt(SELECTOR.__KERNEL_DS);
    tm.state.gpr[3] = tm.state.gpr[4] - 0x40n;
    tm.state.rflags |= TF;
    const first = tm.step();
    assert.equal(first.kind, 'ok', `no trap inside the MOV SS shadow: ${r2s(first)}`);
    const second = tm.step();
    assert.ok(second.kind === 'exception' && second.name === '#DB', r2s(second));
    assert.equal(second.rip, KERNEL_CODE + 5n, 'reported after mov %rbx, %rsp');
  });

  it('an interrupt is not taken between MOV SS and the next instruction', () => {
    const m = withIdt('mov %ax, %ss\nmov %rbx, %rsp\nnop\n');
    m.state.gpr[0] = BigInt(SELECTOR.__KERNEL_DS);
    m.state.gpr[3] = m.state.gpr[4] - 0x40n;
    m.state.rflags |= IF;
    assert.equal(m.step().kind, 'ok');
    m.requestInterrupt(0x20);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rip, KERNEL_CODE + 5n, 'the stack switch completed first');
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rip, KERNEL_CODE + 0x800n);
  });
});

describe('cpu: alignment check (#AC)', () => {
  it('at CPL 3 with CR0.AM and RFLAGS.AC a misaligned load is #AC(0); aligned loads, AC=0 and CPL 0 are not checked', () => {
    const { m } = testMachine({ user: 'mov 1(%rsp), %eax\nmov (%rsp), %eax\n' });
    m.state.cr0 |= 1n << 18n;
    m.state.rflags |= 1n << 18n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#AC' && r.errorCode === 0, r2s(r));
    m.state.rflags &= ~(1n << 18n);
    assert.equal(m.step().kind, 'ok', 'AC clear: no check');
    m.state.rflags |= 1n << 18n;
    assert.equal(m.step().kind, 'ok', 'aligned');
    const k = testMachine({ kernel: 'mov -7(%rsp), %eax\n' }).m;
    enterKernel(k);
    k.state.cr0 |= 1n << 18n;
    k.state.rflags |= 1n << 18n; // in the kernel AC means "SMAP override", never alignment
    assert.equal(k.step().kind, 'ok');
  });

  it('a misaligned push with AC set faults before RSP changes', () => {
    const { m } = testMachine({ user: 'push %rax\n' });
    m.state.cr0 |= 1n << 18n;
    m.state.rflags |= 1n << 18n;
    m.state.gpr[4] -= 4n;
    const rsp = m.state.gpr[4];
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#AC', r2s(r));
    assert.equal(m.state.gpr[4], rsp);
  });
});
