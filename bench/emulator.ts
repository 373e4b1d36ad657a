/** Emulator speed against the same loop run natively, syscall round trips, and the memory reverse execution costs. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { KentryRuntime } from '../emulator/runtime/runtime';
import { nodeFiles } from '../debug-adapter/node-files';
import { add } from './report';
import { SAMPLES, tmp } from './paths';

const LOOP_ITERATIONS = 2_000_000;
const exitSequence = '\tmovl\t$60, %eax\n\txorl\t%edi, %edi\n\tsyscall\n';
let programs = 0;

/** Load a user program under the full machine (bundled entry code). */
function load(source: string, opts: { historyLimit?: number; instructionBudget?: number } = {}): KentryRuntime {
  const file = path.join(tmp, `prog-${programs++}.S`);
  fs.writeFileSync(file, source);
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, program: file, instructionBudget: opts.instructionBudget ?? 1e12, historyLimit: opts.historyLimit ?? 0 });
  const errors = rt.load();
  if (errors.length) throw new Error(errors.map((e) => `${e.loc.file}:${e.loc.line}: ${e.message}`).join('\n'));
  return rt;
}

/** Run until the program exits (or the first stop); instructions and seconds. */
function run(rt: KentryRuntime): Promise<{ instructions: number; seconds: number; syscalls: number }> {
  let syscalls = 0;
  rt.on('transition', (t) => { if (t.kind === 'syscall') syscalls++; });
  return new Promise((resolve, reject) => {
    const i0 = rt.system.machine.instructionsRetired;
    const t0 = performance.now();
    const done = (): void => resolve({ instructions: rt.system.machine.instructionsRetired - i0, seconds: (performance.now() - t0) / 1000, syscalls });
    rt.on('exited', done);
    rt.on('stopped', (s) => (s.reason === 'pause' ? done() : reject(new Error(`program stopped: ${s.description} ${s.text ?? ''}`))));
    rt.start(false);
  });
}

const hotLoop = (n: number): string => `\t.text\n\t.globl _start\n_start:\n\tmovq\t$${n}, %rcx\n\txorl\t%eax, %eax\n1:\taddq\t%rcx, %rax\n\tdecq\t%rcx\n\tjnz\t1b\n${exitSequence}`;

/** Native: the same three-instruction loop compiled by gcc, timed inside the process. */
function nativeLoopSeconds(): number {
  const c = path.join(tmp, 'loop.c');
  fs.writeFileSync(c, `#include <stdio.h>
#include <time.h>
int main(void){ struct timespec a,b; long n=${LOOP_ITERATIONS * 50}L, acc=0;
clock_gettime(CLOCK_MONOTONIC,&a);
__asm__ volatile("1: add %%rcx, %%rax\\n dec %%rcx\\n jnz 1b" : "+c"(n), "+a"(acc));
clock_gettime(CLOCK_MONOTONIC,&b);
printf("%.9f\\n", ((b.tv_sec-a.tv_sec)+(b.tv_nsec-a.tv_nsec)/1e9)/50.0); return 0; }`);
  execFileSync('gcc', ['-O2', '-o', path.join(tmp, 'loop'), c]);
  return Number(execFileSync(path.join(tmp, 'loop')).toString());
}

/** A loop that uses memory every way user code does: indexed load and store, push/pop, call/ret. */
const memoryLoop = (n: number): string => `\t.text\n\t.globl _start\n_start:\n\tmovq\t$${n}, %rcx\n\tleaq\tbuf(%rip), %rsi\n\txorl\t%eax, %eax\n`
  + `1:\tmovq\t%rcx, %rdx\n\tandq\t$7, %rdx\n\taddq\t(%rsi,%rdx,8), %rax\n\tmovq\t%rax, 8(%rsi,%rdx,8)\n\tpushq\t%rax\n\tcall\tf\n\tpopq\t%rbx\n\tdecq\t%rcx\n\tjnz\t1b\n`
  + `${exitSequence}f:\tincq\t%rbx\n\tret\n\t.data\nbuf:\t.quad 1,2,3,4,5,6,7,8,9,10\n`;

/** Instructions per second of `steps` calls of one machine's step(), or of runFast falling back to step(). */
function rawRate(rt: KentryRuntime, steps: number, fast: boolean): number {
  const m = rt.system.machine;
  const t0 = performance.now();
  let done = 0;
  while (done < steps) {
    const n = fast ? m.runFast(steps - done) : 0;
    done += n;
    if (n === 0) {
      if (m.step().kind !== 'ok') break;
      done++;
    }
  }
  return done / ((performance.now() - t0) / 1000);
}

export async function benchHotLoop(): Promise<void> {
  // One untimed run first, so every figure below is of JIT-compiled code (as a long session is).
  await run(load(hotLoop(LOOP_ITERATIONS)));
  await run(load(memoryLoop(LOOP_ITERATIONS / 4)));
  // Best of three for each figure: the machine is shared, and a slow outlier says nothing about the code.
  let ips = 0;
  for (let i = 0; i < 3; i++) {
    const r = await run(load(hotLoop(LOOP_ITERATIONS)));
    ips = Math.max(ips, r.instructions / r.seconds);
  }
  const nativeIps = (LOOP_ITERATIONS * 3) / nativeLoopSeconds();
  add({ name: 'emulator: hot user-mode loop (add/dec/jnz), continue, history off', value: ips, unit: 'instructions/s', reference: nativeIps, ratio: nativeIps / ips, note: 'reference: the same loop native (gcc); ratio = native / emulated. A continue runs it in the fast tier (Machine.runFast); after one untimed warm-up run' });
  // The CPU alone, without the runtime's breakpoint, stepping and event bookkeeping: the fast
  // tier, and step() (the exact per-instruction path that stepping and history recording use).
  const steps = LOOP_ITERATIONS * 3;
  const best = (fast: boolean): number => Math.max(...[0, 1, 2].map(() => rawRate(load(hotLoop(LOOP_ITERATIONS)), steps, fast)));
  const fastIps = best(true);
  const stepIps = best(false);
  add({ name: 'emulator: the same loop, Machine.runFast() alone', value: fastIps, unit: 'instructions/s', reference: stepIps, ratio: fastIps / stepIps, note: 'reference: Machine.step() one instruction at a time; ratio = fast tier speed-up' });
  add({ name: 'emulator: the same loop, Machine.step() alone', value: stepIps, unit: 'instructions/s', reference: ips, ratio: ips / stepIps, note: 'reference: the continue above; ratio = continue / step()' });
  const memIterations = LOOP_ITERATIONS / 4;
  let memIps = 0;
  let memInstructions = 0;
  for (let i = 0; i < 3; i++) {
    const mr = await run(load(memoryLoop(memIterations)));
    memIps = Math.max(memIps, mr.instructions / mr.seconds);
    memInstructions = mr.instructions;
  }
  const memStep = Math.max(...[0, 1, 2].map(() => rawRate(load(memoryLoop(memIterations)), memInstructions, false)));
  add({ name: 'emulator: memory loop (load/store/push/call/ret/pop), continue, history off', value: memIps, unit: 'instructions/s', reference: memStep, ratio: memIps / memStep, note: 'reference: Machine.step() on the same loop; ratio = speed-up' });
  let hIps = 0;
  for (let i = 0; i < 3; i++) {
    const h = await run(load(hotLoop(LOOP_ITERATIONS), { historyLimit: 1e9 }));
    hIps = Math.max(hIps, h.instructions / h.seconds);
  }
  add({ name: 'emulator: the hot loop, continue, recording reverse-execution history', value: hIps, unit: 'instructions/s', reference: ips, ratio: ips / hIps, note: 'reference: history off; ratio = slowdown from recording (each fast run of up to 4096 instructions is one history record)' });
}

export async function benchSyscalls(): Promise<void> {
  const n = 2000;
  const r = await run(load(`\t.text\n\t.globl _start\n_start:\n\tmovl\t$${n}, %ebx\n1:\tmovl\t$39, %eax\n\tsyscall\n\tdecl\t%ebx\n\tjnz\t1b\n${exitSequence}`));
  add({ name: 'emulator: getpid round trips through entry_SYSCALL_64', value: r.syscalls / r.seconds, unit: 'syscalls/s', note: `${(r.instructions / r.syscalls) | 0} instructions per round trip (entry code + SYSRET)` });
}

/** Reverse execution's memory: the history's own estimate and the heap growth, per million recorded instructions. */
export async function benchHistoryMemory(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const million = 1_000_000;
  const loop = `\t.text\n\t.globl _start\n_start:\n1:\tpushq\t%rax\n\tpopq\t%rbx\n\taddq\t$3, %rax\n\tmovl\t$39, %eax\n\tjmp\t1b\n`;
  const measure = async (how: 'step' | 'continue', steps: number): Promise<{ heap: number; estimate: number; instructions: number; records: number }> => {
    const rt = load(loop, { historyLimit: 2 * million, instructionBudget: steps });
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const i0 = rt.system.machine.instructionsRetired;
    if (how === 'continue') await run(rt);
    else for (let i = 0; i < steps; i++) rt.stepInstruction();
    gc?.();
    const h = rt.history;
    if (!h) throw new Error('history is off');
    return { heap: process.memoryUsage().heapUsed - before, estimate: h.estimatedBytes(), instructions: rt.system.machine.instructionsRetired - i0, records: h.length };
  };
  const perM = (bytes: number, instructions: number): number => (bytes / 2 ** 20) * (million / instructions);
  const stepped = await measure('step', million / 4);
  add({ name: 'reverse execution: heap per million instructions, stepped one by one', value: perM(stepped.heap, stepped.instructions), unit: 'MiB', reference: perM(stepped.estimate, stepped.instructions), ratio: stepped.heap / stepped.estimate, note: `${stepped.instructions.toLocaleString('en')} steps (one record each) of a push/pop/add/mov/jmp loop; reference: History.estimatedBytes(); ${gc ? 'after gc()' : 'no --expose-gc: heap figure includes garbage'}` });
  const continued = await measure('continue', million);
  add({ name: 'reverse execution: heap per million instructions, one continue', value: perM(continued.heap, continued.instructions), unit: 'MiB', reference: perM(stepped.heap, stepped.instructions), ratio: continued.heap / continued.instructions / (stepped.heap / stepped.instructions), note: `${continued.instructions.toLocaleString('en')} instructions in ${continued.records.toLocaleString('en')} records (fast-tier spans); reference: stepped one by one` });
}
