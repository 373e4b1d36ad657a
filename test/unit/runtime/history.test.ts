/**
 * Reverse execution at the runtime level: stepping back k instructions restores exactly the
 * machine state of k instructions before (registers, MSRs, CR3, every memory page, the TLB),
 * across the syscall's privilege changes and KPTI CR3 switches and the modelled C call.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
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

  it('the history holds under 200 heap bytes per recorded instruction (measured after GC)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const program = path.join(os.tmpdir(), `kentry-history-${process.pid}.S`);
    // Stores, pushes/pops, ALU and a syscall: what the entry code does, repeated.
    fs.writeFileSync(program, '\t.text\n\t.globl _start\n_start:\n\tmovl $5000, %ebx\n1:\tpushq %rbx\n\tmovq %rbx, -64(%rsp)\n\taddq $3, %rax\n'
      + '\tpopq %rcx\n\tdecl %ebx\n\tjnz 1b\n\tmovl $39, %eax\n\tsyscall\n\tmovl $60, %eax\n\txorl %edi, %edi\n\tsyscall\n');
    const heapFor = (historyLimit: number): { heap: number; records: number } => {
      const rt = boot(historyLimit, { program });
      gc();
      const before = process.memoryUsage().heapUsed;
      while (!rt.exited) rt.stepInstruction();
      gc();
      return { heap: process.memoryUsage().heapUsed - before, records: rt.history?.length ?? 0 };
    };
    try {
      const off = heapFor(0);
      const on = heapFor(1e7);
      assert.ok(on.records > 30_000);
      const perInstruction = (on.heap - off.heap) / on.records;
      assert.ok(perInstruction < 200, `${perInstruction.toFixed(0)} bytes per instruction`);
    } finally {
      fs.rmSync(program, { force: true });
    }
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
  it('a continue runs user loops in the fast tier, recorded as spans; stepping back through them gives every instruction\'s exact state', async () => {
    const program = path.join(os.tmpdir(), `kentry-spans-${process.pid}.S`);
    // Loads, stores, push/pop, call/ret: all fast-tier instructions, 11 per iteration.
    fs.writeFileSync(program, '\t.text\n\t.globl _start\n_start:\n\tmovq $900, %rcx\n\tleaq buf(%rip), %rsi\n1:\tmovq %rcx, %rdx\n\tandq $7, %rdx\n'
      + '\taddq (%rsi,%rdx,8), %rax\n\tmovq %rax, 8(%rsi,%rdx,8)\n\tpushq %rax\n\tcall f\n\tpopq %rbx\n\tdecq %rcx\n\tjnz 1b\n'
      + '\tmovl $60, %eax\n\txorl %edi, %edi\n\tsyscall\nf:\tincq %rbx\n\tret\n\t.data\nbuf:\t.quad 1,2,3,4,5,6,7,8,9,10\n');
    const K = 9000;
    try {
      // The reference: one instruction at a time.
      const a = boot(100_000, { program });
      const states = [cloneCpuState(a.system.machine.state)];
      for (let i = 0; i < K; i++) { a.stepInstruction(); states.push(cloneCpuState(a.system.machine.state)); }
      // The same K instructions by one continue (the budget pauses it exactly there).
      const b = boot(100_000, { program, instructionBudget: K });
      const m = b.system.machine;
      const before = m.snapshot();
      await new Promise<void>((resolve) => { b.once('stopped', () => resolve()); b.continue(); });
      assert.deepStrictEqual(cloneCpuState(m.state), states[K], 'the continue ends in the state K single steps reach');
      assert.ok((m.fastTier?.instructions ?? 0) > K / 2, `the fast tier ran most of it (${m.fastTier?.instructions ?? 0} of ${K})`);
      assert.ok((b.history?.length ?? 0) < K / 2, `recorded as spans: ${b.history?.length} records for ${K} instructions`);
      for (let i = K - 1; i >= K - 40; i--) {
        b.stepBack('instruction');
        assert.deepStrictEqual(cloneCpuState(m.state), states[i], `CPU state ${i} instructions after the start`);
      }
      // Reverse-continue with no breakpoint runs back to the start: the whole machine as before.
      await new Promise<void>((resolve) => { b.once('stopped', () => resolve()); b.reverseContinue(); });
      assertSameMachine(before, m.snapshot(), 'after running back over the spans');
    } finally {
      fs.rmSync(program, { force: true });
    }
  });
});
