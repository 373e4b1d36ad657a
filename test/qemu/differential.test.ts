/**
 * kentry's emulator instruction by instruction against QEMU on Linux 6.1's real entry code,
 * from swapgs in entry_SYSCALL_64 (the /init's write syscall) back to user mode, with
 * do_syscall_64 run by QEMU alone. Fails with the first divergence and both states.
 *
 * What this cannot check, because QEMU's TCG does not model it: TLB contents and PCID tagging
 * (TCG flushes on every CR3 write whatever NOFLUSH says, so a missing or wrong TLB flush in
 * the entry code is invisible on both sides); speculation and the mitigations' effects
 * (VERW, IBRS writes, retpolines just execute); MSRs the gdb stub does not expose (STAR,
 * LSTAR, SYSCALL_MASK are set to syscall_init's values on the emulator side).
 */
import { strict as assert } from 'node:assert';
import { QemuEngine } from '../../debug-adapter/engines/qemu/qemu-engine';
import { MSR } from '../../emulator/machine/facts';
import { formatDivergence, linuxSyscallMsrs, runDifferential } from './differential';
import { nextStop, requireTestKernel, syscallSwapgsLine } from './test-kernel';

for (const pti of [true, false]) {
  describe(`differential: emulator vs QEMU on Linux 6.1 entry_SYSCALL_64, pti=${pti ? 'on' : 'off'}`, function () {
    let engine: QemuEngine | undefined;
    after(async () => { await engine?.terminate(); });

    it('agrees on the architectural state after every instruction from swapgs to the return to user mode', async function () {
      const k = requireTestKernel(this);
      engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti, cpu: 'max' } });
      assert.deepEqual(await engine.load(), []);
      await engine.setBreakpoints(k.userEntryFile, [syscallSwapgsLine(k.userEntryFile)]);
      const stop = nextStop(engine);
      await engine.start(false);
      assert.equal((await stop).reason, 'breakpoint');
      // Breakpoints off: the comparison single-steps on its own.
      await engine.setBreakpoints(k.userEntryFile, []);
      const report = await runDifferential(engine.gdb!, engine.image!);
      const summary = `${report.compared} instructions compared, stepped over ${report.steppedOver.join(', ') || 'nothing'}, ${report.framesFetched} guest frames fetched and compared ${report.memoryChecks}x, ${report.spuriousQemuSteps} spurious QEMU steps retried; end: ${report.end}`;
      console.log(`      ${summary}`);
      if (report.divergence) assert.fail(`${formatDivergence(report.divergence)}\n  trace (last 15):\n    ${report.trace.slice(-15).join('\n    ')}`);
      assert.match(report.end, /returned to user mode/);
      assert.ok(report.steppedOver.some((s) => s.startsWith('do_syscall_64')), summary);
      assert.ok(report.compared > 20, summary);
      assert.equal(report.memoryChecks, 2, summary);
    });
  });
}

describe('differential: the comparison catches a wrong emulator state', function () {
  let engine: QemuEngine | undefined;
  after(async () => { await engine?.terminate(); });

  it('a STAR with the wrong SYSRET selector base diverges at sysretq, showing both states', async function () {
    const k = requireTestKernel(this);
    engine = new QemuEngine({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti: true } });
    assert.deepEqual(await engine.load(), []);
    await engine.setBreakpoints(k.userEntryFile, [syscallSwapgsLine(k.userEntryFile)]);
    const stop = nextStop(engine);
    await engine.start(false);
    await stop;
    await engine.setBreakpoints(k.userEntryFile, []);
    const msrs = linuxSyscallMsrs(engine.image!);
    msrs.set(MSR.STAR, (0x1bn << 48n) | (0x10n << 32n)); // SYSRET base 0x18 instead of __USER32_CS 0x23
    const report = await runDifferential(engine.gdb!, engine.image!, { msrs });
    assert.ok(report.divergence, report.end);
    assert.match(report.divergence.instruction, /sysretq/);
    assert.ok(report.divergence.differences.some((d) => d.startsWith('cs.selector: emulator 0x2b, QEMU 0x33')), report.divergence.differences.join('; '));
    assert.match(formatDivergence(report.divergence), /emulator: rip=0x401018.*\n {2}QEMU: {5}rip=0x401018/s);
  });
});
