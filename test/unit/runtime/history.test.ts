/**
 * Reverse execution at the runtime level: stepping back k instructions restores exactly the
 * machine state of k instructions before (registers, MSRs, CR3, every memory page, the TLB),
 * across the syscall's privilege changes and KPTI CR3 switches and the modelled C call.
 */
import * as assert from 'assert';
import { KentryRuntime } from '../../../emulator/runtime/runtime';
import { nodeFiles } from '../../../debug-adapter/node-files';
import { SAMPLES } from '../../support/paths';
import type { MachineSnapshot } from '../../../emulator/machine/machine';
import { cloneCpuState } from '../../../emulator/machine/state';

function boot(historyLimit = 100_000, extra: Partial<ConstructorParameters<typeof KentryRuntime>[0]> = {}): KentryRuntime {
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, historyLimit, ...extra });
  const errors = rt.load();
  assert.deepStrictEqual(errors.map((e) => e.message), []);
  return rt;
}

function tlbRows(s: MachineSnapshot): string[] {
  return s.tlb.entries().map((e) => `${e.linear.toString(16)}:${e.pcid}:${e.physBase.toString(16)}:${e.global}:${e.dirty}`).sort();
}

function assertSameMachine(a: MachineSnapshot, b: MachineSnapshot, what: string): void {
  assert.deepStrictEqual(b.state, a.state, `${what}: registers, segments, CRs, MSRs`);
  assert.deepStrictEqual([...b.memory.keys()].sort(), [...a.memory.keys()].sort(), `${what}: the same pages exist`);
  for (const [pfn, bytes] of a.memory) assert.ok(Buffer.from(bytes).equals(Buffer.from(b.memory.get(pfn) as Uint8Array)), `${what}: page 0x${pfn.toString(16)} differs`);
  assert.deepStrictEqual(tlbRows(b), tlbRows(a), `${what}: TLB`);
  assert.strictEqual(b.instructionsRetired, a.instructionsRetired, `${what}: instructions retired`);
}

describe('runtime: reverse execution history', () => {
  it('step back k instructions restores the exact state, across SYSCALL, CR3 switches, the model and SYSRET', () => {
    const rt = boot();
    const m = rt.system.machine;
    rt.stepInstruction();
    const before = m.snapshot();
    let k = 0;
    let sawKernel = false;
    const cr3s = new Set<bigint>();
    /** CPU state before each step forward, to compare on the way back. */
    const states = [cloneCpuState(m.state)];
    // Forward through the whole getpid syscall and a few user instructions after it.
    while (k < 2000) {
      rt.stepInstruction();
      states.push(cloneCpuState(m.state));
      k++;
      cr3s.add(m.state.cr3);
      if (m.state.cpl === 0) sawKernel = true;
      if (sawKernel && m.state.cpl === 3) break;
    }
    for (let i = 0; i < 3; i++, k++) {
      rt.stepInstruction();
      states.push(cloneCpuState(m.state));
    }
    assert.ok(sawKernel && m.state.cpl === 3, 'went into the kernel and came back');
    assert.ok(cr3s.size >= 2, 'CR3 switched (KPTI)');
    for (let i = k - 1; i >= 0; i--) {
      rt.stepBack('instruction');
      assert.deepStrictEqual(cloneCpuState(m.state), states[i], `CPU state ${i} instructions after the start`);
    }
    assertSameMachine(before, m.snapshot(), `after ${k} steps forward and back`);
    // And forward again gives the same result as the first time (determinism from a restored state).
    for (let i = 0; i < k; i++) rt.stepInstruction();
    for (let i = 0; i < k; i++) rt.stepBack('instruction');
    assertSameMachine(before, m.snapshot(), 'second round trip');
  });

  it('a record costs under 200 bytes per instruction on average', () => {
    const rt = boot();
    let steps = 0;
    while (!rt.exited && steps < 5000) { rt.stepInstruction(); steps++; }
    const h = rt.history;
    assert.ok(h && h.length > 100);
    const bytes = h.estimatedBytes() / h.length;
    assert.ok(bytes < 200, `${bytes.toFixed(0)} bytes per instruction`);
  });

  it('historyLimit drops the oldest records with one notice', () => {
    const rt = boot(50);
    const notes: string[] = [];
    rt.on('output', (t) => notes.push(t));
    for (let i = 0; i < 120; i++) rt.stepInstruction();
    assert.strictEqual(rt.history?.length, 50);
    assert.strictEqual(notes.filter((n) => /history is full/.test(n)).length, 1);
    for (let i = 0; i < 50; i++) rt.stepBack('instruction');
    const stops: string[] = [];
    rt.on('stopped', (s) => stops.push(s.description));
    rt.stepBack('instruction');
    assert.match(stops[0], /oldest recorded instruction/);
  });
});
