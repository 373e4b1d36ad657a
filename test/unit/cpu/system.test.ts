import { strict as assert } from 'assert';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { MSR } from '../../../emulator/machine/facts/msrs';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { PTE } from '../../../emulator/machine/facts/paging';
import { GDT, KERNEL_CODE, KERNEL_DATA, USER_CODE, asm, enterKernel, hex, testMachine } from './harness';

const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

describe('cpu: system instructions', () => {
  it('LGDT/LIDT load base and limit from memory; SGDT stores them back', () => {
    const m = new Machine(CPU_PROFILES.intel);
    m.mem.write(0x1000n, asm('lgdt (%rbx)\nlidt 16(%rbx)\nsgdt 32(%rbx)\n'));
    m.state.rip = 0x1000n;
    m.state.gpr[3] = 0x2000n;
    m.mem.write(0x2000n, new Uint8Array([0x7f, 0x00, 0x00, 0x30, 0, 0, 0, 0, 0, 0]));
    m.mem.write(0x2010n, new Uint8Array([0xff, 0x0f, 0x00, 0x40, 0, 0, 0, 0, 0, 0]));
    for (let i = 0; i < 3; i++) assert.equal(m.step().kind, 'ok');
    assert.deepEqual(m.state.gdtr, { base: 0x3000n, limit: 0x7f });
    assert.deepEqual(m.state.idtr, { base: 0x4000n, limit: 0xfff });
    assert.deepEqual(Array.from(m.mem.read(0x2020n, 10)), [0x7f, 0, 0, 0x30, 0, 0, 0, 0, 0, 0]);
  });

  it('LTR loads the 64-bit TSS and marks it busy; a second LTR of it is #GP(selector)', () => {
    const { m } = testMachine({ kernel: 'ltr %ax\nltr %ax\n' });
    enterKernel(m);
    m.state.tr = { selector: 0, base: 0n, limit: 0, attrs: 0 };
    m.state.gpr[0] = BigInt(SELECTOR.TSS);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.tr.selector, SELECTOR.TSS);
    assert.equal(m.state.tr.base, KERNEL_DATA + 0x2000n);
    const typeNow = (m.readU64Virtual(GDT + BigInt(SELECTOR.TSS)) as bigint) >> 40n & 0xfn;
    assert.equal(typeNow, 0xbn, 'busy 64-bit TSS');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === SELECTOR.TSS, r2s(r));
  });

  it('MOV to DS/SS: null DS is fine, SS must be a writable data segment at CPL; user DS with RPL 3 at CPL 0 loads', () => {
    const { m } = testMachine({ kernel: 'mov %ax, %ds\nmov %bx, %ss\nmov %cx, %es\n' });
    enterKernel(m);
    m.state.gpr[0] = 0n;
    m.state.gpr[3] = BigInt(SELECTOR.__KERNEL_CS);
    m.state.gpr[1] = BigInt(SELECTOR.__USER_DS);
    assert.equal(m.step().kind, 'ok');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === SELECTOR.__KERNEL_CS, r2s(r));
    m.state.rip += 2n; // skip the faulting mov to SS
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.seg.es.selector, SELECTOR.__USER_DS);
  });

  it('VERW sets ZF for a writable data selector and clears it for a code selector', () => {
    const { m } = testMachine({ kernel: 'verw %ax\nverw %bx\n' });
    enterKernel(m);
    m.state.gpr[0] = BigInt(SELECTOR.__KERNEL_DS);
    m.state.gpr[3] = BigInt(SELECTOR.__KERNEL_CS);
    m.step();
    assert.equal(m.state.rflags & 0x40n, 0x40n);
    m.step();
    assert.equal(m.state.rflags & 0x40n, 0n);
  });

  it('CLI/STI need CPL <= IOPL', () => {
    const { m } = testMachine({ user: 'cli\n' });
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
    const t = testMachine({ user: 'cli\n' }).m;
    t.state.rflags |= 0x3000n; // IOPL 3
    assert.equal(t.step().kind, 'ok');
    assert.equal(t.state.rflags & 0x200n, 0n);
  });

  it('RDTSCP returns TSC_AUX in ECX; RDTSC counts retired instructions', () => {
    const m = new Machine(CPU_PROFILES.intel);
    m.mem.write(0x1000n, asm('nop\nnop\nrdtsc\nrdtscp\n'));
    m.state.rip = 0x1000n;
    m.state.msrs.set(MSR.TSC_AUX, 3n);
    m.step(); m.step(); m.step();
    assert.equal(m.state.gpr[0], 2n);
    m.step();
    assert.equal(m.state.gpr[1], 3n);
  });

  it('RDGSBASE/WRGSBASE need CR4.FSGSBASE and reject non-canonical bases', () => {
    const { m } = testMachine({ user: 'wrgsbase %rax\nrdgsbase %rbx\n' });
    m.state.gpr[0] = 0x0000800000000000n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
    m.state.gpr[0] = 0x7f0000002000n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[3], 0x7f0000002000n);
    m.state.cr4 &= ~(1n << 16n);
    m.state.rip = USER_CODE;
    const u = m.step();
    assert.ok(u.kind === 'exception' && u.name === '#UD', r2s(u));
  });

  it('WRMSR EFER keeps LMA read-only and rejects reserved bits', () => {
    const m = new Machine(CPU_PROFILES.intel);
    m.mem.write(0x1000n, asm('wrmsr\nwrmsr\n'));
    m.state.rip = 0x1000n;
    m.state.gpr[1] = BigInt(MSR.EFER);
    m.state.gpr[0] = 0x901n; // SCE | LME | NXE, LMA clear in the written value
    assert.equal(m.step().kind, 'ok');
    assert.equal(hex(m.state.msrs.get(MSR.EFER)!), hex(0xd01n), 'LMA stays set');
    m.state.gpr[0] = 0x2n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
  });

  it('instructions and data that straddle a page boundary go through both translations', () => {
    const { m, pt } = testMachine({ kernel: 'nop\n' });
    enterKernel(m);
    // mov $0x1122334455667788, %rax (10 bytes) placed 4 bytes before the end of the first code page.
    const insn = asm('movabs $0x1122334455667788, %rax\n');
    m.writeVirtual(KERNEL_CODE + 0x1000n - 4n, insn);
    m.state.rip = KERNEL_CODE + 0x1000n - 4n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 0x1122334455667788n);
    // Unmap the second page: the same fetch now faults on it, with CR2 = its first byte.
    const pte = pt.pteAddress(KERNEL_CODE + 0x1000n);
    m.mem.writeU64(pte, m.mem.readU64(pte) & ~PTE.P);
    m.tlb.flushAll(true);
    m.state.rip = KERNEL_CODE + 0x1000n - 4n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.cr2 === KERNEL_CODE + 0x1000n, r2s(r));
    // A straddling store whose second page is read-only writes nothing.
    const { m: d } = testMachine({ kernel: 'mov %rax, (%rbx)\n' });
    enterKernel(d);
    d.state.gpr[0] = 0xffffffffffffffffn;
    d.state.gpr[3] = KERNEL_DATA + 0x8000n - 4n; // last data page ends here; next page unmapped
    const w = d.step();
    assert.ok(w.kind === 'exception' && w.name === '#PF', r2s(w));
    assert.deepEqual(Array.from(d.readVirtual(KERNEL_DATA + 0x8000n - 4n, 4) as Uint8Array), [0, 0, 0, 0]);
  });

  it('STAC is #UD in user mode', () => {
    const { m } = testMachine({ user: 'stac\n' });
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#UD', r2s(r));
  });
});

describe('cpu: port I/O', () => {
  it('user-mode OUT is #GP(0) with Linux\'s TSS (no I/O bitmap); ring 0 IN reads all ones', () => {
    const { m } = testMachine({ user: 'outb %al, $0x80\n', kernel: 'inb $0x60, %al\ninl %dx, %eax\n' });
    m.mem.write(0x402000n + 102n, new Uint8Array([0x68, 0])); // io_bitmap_base = 0x68, past the limit 0x67
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    enterKernel(m);
    m.state.gpr[0] = 0x1234n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 0x12ffn);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 0xffffffffn);
  });
});

describe('cpu: string port I/O', () => {
  it('rep insb in ring 0 fills memory with all ones; outsb from ring 3 is #GP(0)', () => {
    const m = new Machine(CPU_PROFILES.intel);
    m.mem.write(0x1000n, asm('rep insb\n'));
    m.state.rip = 0x1000n;
    m.state.gpr[1] = 3n;
    m.state.gpr[7] = 0x3000n;
    assert.equal(m.step().kind, 'ok');
    assert.deepEqual(Array.from(m.mem.read(0x3000n, 4)), [0xff, 0xff, 0xff, 0]);
    assert.equal(m.state.gpr[7], 0x3003n);
    const { m: u } = testMachine({ user: 'outsb\n' });
    u.mem.write(0x402000n + 102n, new Uint8Array([0x68, 0]));
    u.state.gpr[6] = USER_CODE;
    const r = u.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
  });
});
