/**
 * The QEMU engine against the real Linux 6.1 test kernel: a breakpoint on the swapgs line of
 * entry_SYSCALL_64 in the user's entry_64.S stops when /init makes its first syscall, with the
 * registers, MSRs and views of the real machine; stepping goes by source line.
 */
import { strict as assert } from 'node:assert';
import { MSR } from '../../emulator/machine/facts';
import { QemuEngine } from '../../debug-adapter/engines/qemu/qemu-engine';
import { GdbRemote } from '../../debug-adapter/engines/qemu/gdb-remote';
import { connectWhenReady, startQemu } from '../../debug-adapter/engines/qemu/qemu-process';
import { lineOf } from '../support/paths';
import { initText, nextStop, requireTestKernel, syscallSwapgsLine, type TestKernel } from './test-kernel';

for (const pti of [true, false]) {
  describe(`QEMU engine: Linux 6.1 in QEMU, pti=${pti ? 'on' : 'off'}`, function () {
    let k: TestKernel;
    let engine: QemuEngine | undefined;

    before(function () {
      k = requireTestKernel(this);
    });
    afterEach(async () => {
      await engine?.terminate();
      engine = undefined;
    });

    it('stops on swapgs of entry_SYSCALL_64 (a line of the user\'s tree) when /init calls write, then steps by line', async () => {
      engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti } });
      assert.deepEqual(await engine.load(), []);
      const line = syscallSwapgsLine(k.userEntryFile);
      const [bp] = await engine.setBreakpoints(k.userEntryFile, [line]);
      assert.equal(bp.verified, true, bp.message);
      const first = nextStop(engine);
      await engine.start(false);
      const stop = await first;
      assert.equal(stop.reason, 'breakpoint', stop.description);

      const s = await engine.cpuState();
      const entry = engine.image?.symbol('entry_SYSCALL_64') as bigint;
      assert.ok(s.rip >= entry && s.rip < entry + 8n, `rip ${s.rip.toString(16)} at entry_SYSCALL_64`);
      assert.equal(s.cpl, 0);
      assert.equal(s.gpr[0], 1n, 'rax = __NR_write');
      const text = initText(k);
      assert.ok(s.gpr[1] > text.start && s.gpr[1] < text.end, `rcx (user RIP) 0x${s.gpr[1].toString(16)} inside /init`);
      assert.match(engine.console, /Run \/init as init process/);
      // Before swapgs: GS base is the user's (0), KERNEL_GS_BASE the per-CPU area.
      assert.equal(s.seg.gs.base, 0n);
      const kgs = s.msrs.get(MSR.KERNEL_GS_BASE) as bigint;
      assert.ok(kgs >= 0xffff800000000000n, `KERNEL_GS_BASE 0x${kgs.toString(16)} is a kernel address`);
      assert.equal(((s.msrs.get(MSR.EFER) ?? 0n) & 1n), 1n, 'EFER.SCE');
      assert.equal(s.seg.cs.selector, 0x10);
      assert.equal(s.tr.selector, 0x40);
      assert.ok(s.gdtr.base >= 0xfffffe0000000000n, 'GDT in cpu_entry_area');

      const [frame] = await engine.stackTrace();
      assert.deepEqual(frame.loc, { file: k.userEntryFile, line });
      assert.equal(frame.name, 'entry_SYSCALL_64');

      const view = await engine.machineState();
      assert.equal(view.cr3.pti, pti);
      assert.equal(view.cr3.half, pti ? 'user' : 'kernel', view.cr3.explanation);
      assert.equal(view.msrs.find((m) => m.name === 'LSTAR')?.value, 'unavailable');
      assert.match(view.msrs.find((m) => m.name === 'LSTAR')?.decoded ?? '', /gdb stub.*entry_SYSCALL_64/s);
      assert.equal(view.msrs.find((m) => m.name === 'KERNEL_GS_BASE')?.value, `0x${kgs.toString(16).padStart(16, '0')}`);
      assert.ok(view.tss.some((f) => f.name.endsWith('sp0') && f.value !== 'unavailable'), 'TSS read through the kernel page tables');
      const perCpu = view.perCpu.find((f) => f.name === '__per_cpu_offset[0]');
      assert.equal(perCpu?.value, `0x${kgs.toString(16).padStart(16, '0')}`, 'per-CPU base equals KERNEL_GS_BASE');
      assert.equal(view.ptRegs.fields.length, 21);

      // swapgs executed: GS base and KERNEL_GS_BASE traded places.
      await engine.stepInstruction();
      const after = await engine.cpuState();
      assert.equal(after.seg.gs.base, kgs);
      assert.equal(after.msrs.get(MSR.KERNEL_GS_BASE), 0n);

      // next: on to a later line of entry_64.S.
      await engine.next();
      const [f2] = await engine.stackTrace();
      assert.equal(f2.loc?.file, k.userEntryFile);
      assert.ok((f2.loc?.line ?? 0) > line, `next moved from line ${line} to ${f2.loc?.line}`);

      // The second syscall of /init (getpid) hits the same breakpoint.
      const second = nextStop(engine);
      await engine.continue();
      assert.equal((await second).reason, 'breakpoint');
      assert.equal((await engine.cpuState()).gpr[0], 39n, 'rax = __NR_getpid');
      assert.match(engine.console, /kentry-init: hello from \/init/);

      // Without breakpoints /init runs to its reboot; QEMU (-no-reboot) exits and the session ends.
      await engine.setBreakpoints(k.userEntryFile, []);
      const exited = new Promise<number>((resolve) => engine?.once('exited', resolve));
      await engine.continue();
      assert.equal(await exited, 0);
      assert.match(engine.console, /kentry-init: getpid done, rebooting/);
    });
  });
}

describe('QEMU engine: views once pt_regs is built', function () {
  let engine: QemuEngine | undefined;
  after(async () => { await engine?.terminate(); });

  it('shows the pt_regs frame, the SYSRET checks, TSS sp2 and per-CPU values of the real kernel, and evaluates regs->ip', async function () {
    const k = requireTestKernel(this);
    engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti: true } });
    assert.deepEqual(await engine.load(), []);
    const afterPush = lineOf(k.userEntryFile, /^\s*PUSH_AND_CLEAR_REGS rax=\$-ENOSYS/) + 3; // movq %rsp, %rdi
    const [bp] = await engine.setBreakpoints(k.userEntryFile, [afterPush]);
    assert.equal(bp.verified, true, bp.message);
    const stop = nextStop(engine);
    await engine.start(false);
    await stop;
    const s = await engine.cpuState();
    const view = await engine.machineState();
    const field = (name: string): string | undefined => view.ptRegs.fields.find((f) => f.field === name)?.value;
    const userRip = BigInt(field('ip') ?? '0');
    assert.ok(userRip >= initText(k).start && userRip < initText(k).end, `pt_regs->ip ${field('ip')} in /init`);
    assert.equal(BigInt(field('orig_ax') ?? '-1'), 1n, 'orig_ax = __NR_write');
    assert.equal(BigInt(field('ax') ?? '0'), BigInt.asUintN(64, -38n), 'ax = -ENOSYS');
    assert.equal(BigInt(field('cs') ?? '0'), 0x33n);
    assert.equal(view.ptRegs.base, `0x${s.gpr[4].toString(16).padStart(16, '0')}`, 'RSP points at the pt_regs base');
    assert.equal(view.ptRegs.rspOn, 'kernel task stack');
    assert.ok(view.sysretChecks.every((c) => c.pass === true), JSON.stringify(view.sysretChecks));
    assert.equal(view.tss.find((f) => f.name.endsWith('.sp2'))?.value, field('sp'), 'TSS sp2 holds the user RSP saved by entry_SYSCALL_64');
    assert.equal(view.cr3.half, 'kernel');
    assert.match(view.kernel.version, /^Linux version 6\.1\./);
    const ip = await engine.evaluate('regs->ip');
    assert.ok(!('error' in ip) && ip.value === userRip, JSON.stringify(ip, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
    const walk = await engine.pageWalk({ address: `0x${(engine.image?.symbol('entry_SYSCALL_64') ?? 0n).toString(16)}` });
    assert.deepEqual(walk.map((w) => [w.half, w.physical !== undefined]), [['kernel', true], ['user', true]], 'entry text is mapped in both KPTI halves');
  });
});

describe('QEMU engine: breakpoint conditions and log points', function () {
  let engine: QemuEngine | undefined;
  after(async () => { await engine?.terminate(); });

  it('a condition on the guest\'s registers skips the write syscall; a log point prints without stopping', async function () {
    const k = requireTestKernel(this);
    engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti: true } });
    assert.deepEqual(await engine.load(), []);
    const logged: string[] = [];
    engine.on('output', (text, category) => { if (category === 'console') logged.push(text); });
    const line = syscallSwapgsLine(k.userEntryFile);
    const movLine = line + 2; // movq %rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2): the next line with code
    const bps = await engine.setBreakpoints(k.userEntryFile, [line, movLine], [{ condition: 'rax == 39' }, { logMessage: 'syscall {rax}' }]);
    assert.ok(bps.every((b) => b.verified), JSON.stringify(bps));
    const stop = nextStop(engine);
    await engine.start(false);
    assert.equal((await stop).reason, 'breakpoint');
    assert.equal((await engine.cpuState()).gpr[0], 39n, 'stopped at getpid, not write');
    assert.ok(logged.includes('syscall 0x1\n'), logged.join(''));
  });
});

describe('QEMU engine: launch errors, pause, attach', function () {
  it('reports a missing vmlinux, kernel or a bad attach address as a launch diagnostic naming the file', async () => {
    const none = await new QemuEngine({ engine: 'qemu' }).load();
    assert.match(none[0].message, /qemu\.vmlinux is required/);
    const missing = await new QemuEngine({ engine: 'qemu', qemu: { vmlinux: '/nonexistent/vmlinux' } }).load();
    assert.equal(missing[0].loc.file, '/nonexistent/vmlinux');
    assert.match(missing[0].message, /cannot read qemu\.vmlinux/);
    const notElf = await new QemuEngine({ engine: 'qemu', qemu: { vmlinux: __filename } }).load();
    assert.match(notElf[0].message, /not an ELF file/);
  });

  it('a bad kernel path or attach address fails the launch clearly (the test kernel\'s vmlinux)', async function () {
    const k = requireTestKernel(this);
    const noKernel = await new QemuEngine({ engine: 'qemu', qemu: { vmlinux: k.vmlinux, kernel: '/nonexistent/bzImage' } }).load();
    assert.match(noKernel[0].message, /qemu\.kernel: no such file \/nonexistent\/bzImage/);
    const badAttach = await new QemuEngine({ engine: 'qemu', qemu: { vmlinux: k.vmlinux, attach: 'nowhere' } }).load();
    assert.match(badAttach[0].message, /"host:port"/);
    const refused = await new QemuEngine({ engine: 'qemu', qemu: { vmlinux: k.vmlinux, attach: '127.0.0.1:1' } }).load();
    assert.match(refused[0].message, /ECONNREFUSED/);
  });

  it('pause stops a booting kernel; continue goes on', async function () {
    const k = requireTestKernel(this);
    const engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd } });
    try {
      assert.deepEqual(await engine.load(), []);
      await engine.start(false);
      // Pause once the kernel prints (not in the firmware before it).
      for (let i = 0; i < 300 && !/Linux version/.test(engine.console); i++) await new Promise((r) => setTimeout(r, 20));
      const stop = nextStop(engine);
      await engine.pause();
      assert.equal((await stop).reason, 'pause');
      const s = await engine.cpuState();
      assert.ok(s.rip !== 0n);
      assert.notEqual(engine.symbolAt(s.rip), undefined, `paused in the kernel at 0x${s.rip.toString(16)}`);
      const exited = new Promise<number>((resolve) => engine.once('exited', resolve));
      await engine.continue();
      assert.equal(await exited, 0, 'continued: /init ran and rebooted');
    } finally {
      await engine.terminate();
    }
  });

  it('attaches to a QEMU started elsewhere (-S, gdb stub), stops on swapgs, and detaches leaving QEMU running', async function () {
    const k = requireTestKernel(this);
    const q = await startQemu({ kernel: k.bzImage, initrd: k.initrd, pti: true }, () => undefined);
    try {
      // Wait until the stub listens, then hand the address to the engine.
      const probe = await connectWhenReady(q, () => GdbRemote.connect('127.0.0.1', q.port));
      probe.close(); // (QEMU keeps a -S guest paused when a client goes away)
      const engine = new QemuEngine({ engine: 'qemu', qemu: { vmlinux: k.vmlinux, attach: `127.0.0.1:${q.port}` } });
      assert.deepEqual(await engine.load(), []);
      const line = syscallSwapgsLine(k.userEntryFile);
      assert.equal((await engine.setBreakpoints(k.userEntryFile, [line]))[0].verified, true);
      const stop = nextStop(engine);
      await engine.start(false);
      assert.equal((await stop).reason, 'breakpoint');
      assert.equal((await engine.cpuState()).gpr[0], 1n);
      await engine.terminate();
      // Detached: the guest runs on to its reboot and QEMU (-no-reboot) exits by itself.
      assert.equal(await Promise.race([q.exited, new Promise((r) => setTimeout(() => r('still running'), 30000))]), 0);
    } finally {
      q.process.kill();
    }
  });
});

describe('gdb remote protocol client against QEMU', function () {
  it('reads QEMU\'s target description (fs_base, gs_base, k_gs_base, cr0-cr4, efer), memory and monitor output', async function () {
    const k = requireTestKernel(this);
    const q = await startQemu({ kernel: k.bzImage, initrd: k.initrd }, () => undefined);
    try {
      const gdb = await connectWhenReady(q, () => GdbRemote.connect('127.0.0.1', q.port));
      for (const name of ['rip', 'eflags', 'fs_base', 'gs_base', 'k_gs_base', 'cr0', 'cr3', 'cr4', 'efer']) {
        assert.ok(gdb.register(name), `register ${name} in ${gdb.registers.map((r) => r.name).join(' ')}`);
      }
      // QEMU 7.2 answers QStartNoAckMode with "" (unsupported): this connection keeps acks on.
      assert.equal(gdb.noAck, gdb.features.QStartNoAckMode === '+');
      // Frozen at the reset vector (-S): real mode, CS base 0xffff0000.
      assert.equal(await gdb.readRegister('rip'), 0xfff0n);
      const text = await gdb.monitor('info registers');
      assert.match(text, /CS =f000 ffff0000/); // real mode: 32-bit layout of the monitor's text
      const bios = await gdb.readMemory(0xffff0n, 16);
      assert.equal(bios[0], 0xea, 'far jmp at the reset vector');
      await gdb.insertBreakpoint(0xffff0n, true);
      await gdb.removeBreakpoint(0xffff0n, true);
      const step = await gdb.step();
      assert.equal(step.kind, 'signal');
      gdb.kill();
    } finally {
      q.process.kill();
      await q.exited;
    }
  });
});
