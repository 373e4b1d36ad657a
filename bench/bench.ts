/**
 * `npm run bench`: every figure is measured side by side in one run, and reported as a ratio
 * or percentile against its reference (native code, GNU tools) on this machine. Writes
 * test-artifacts/bench.json and prints a table.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import * as v8 from 'v8';
import * as vm from 'vm';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { KentryRuntime } from '../emulator/runtime/runtime';
import { nodeFiles } from '../debug-adapter/node-files';

const REPO = path.resolve(__dirname, '..');
const SAMPLES = path.join(REPO, 'samples');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-bench-'));

interface Figure { name: string; value: number; unit: string; reference?: number; ratio?: number; note: string }
const figures: Figure[] = [];

const LOOP_ITERATIONS = 2_000_000;

/** Run a user program under the full machine until it exits; instructions and seconds. */
function runProgram(source: string): Promise<{ instructions: number; seconds: number; syscalls: number }> {
  const file = path.join(tmp, `prog-${figures.length}.S`);
  fs.writeFileSync(file, source);
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, program: file, instructionBudget: 1e12 });
  const errors = rt.load();
  if (errors.length) throw new Error(errors.map((e) => `${e.loc.file}:${e.loc.line}: ${e.message}`).join('\n'));
  let syscalls = 0;
  rt.on('transition', (t) => { if (t.kind === 'syscall') syscalls++; });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    rt.on('exited', () => resolve({ instructions: rt.system.machine.instructionsRetired, seconds: (performance.now() - t0) / 1000, syscalls }));
    rt.on('stopped', (s) => reject(new Error(`program stopped: ${s.description} ${s.text ?? ''}`)));
    rt.start(false);
  });
}

const exitSequence = `
	movl	$60, %eax
	xorl	%edi, %edi
	syscall
`;

/** Native: the same loop compiled by gcc, timed inside the process. */
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

async function benchHotLoop(): Promise<void> {
  const r = await runProgram(`
	.text
	.globl _start
_start:
	movq	$${LOOP_ITERATIONS}, %rcx
	xorl	%eax, %eax
1:	addq	%rcx, %rax
	decq	%rcx
	jnz	1b
${exitSequence}`);
  const ips = r.instructions / r.seconds;
  const nativeIps = (LOOP_ITERATIONS * 3) / nativeLoopSeconds();
  figures.push({ name: 'emulator: hot user-mode loop', value: ips, unit: 'instructions/s', reference: nativeIps, ratio: nativeIps / ips, note: 'ratio = native / emulated (goal: 50 M/s, ratio <= 20)' });
}

async function benchSyscalls(): Promise<void> {
  const n = 2000;
  const r = await runProgram(`
	.text
	.globl _start
_start:
	movl	$${n}, %ebx
1:	movl	$39, %eax
	syscall
	decl	%ebx
	jnz	1b
${exitSequence}`);
  figures.push({ name: 'emulator: getpid round trips', value: r.syscalls / r.seconds, unit: 'syscalls/s', note: `${r.instructions / r.syscalls | 0} instructions per round trip` });
}

function benchAssemble(): void {
  const entry = path.join(SAMPLES, 'entry_64.S');
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES });
  const reps = 20;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) rt.load();
  const ours = (performance.now() - t0) / reps / 1000;
  // Reference: gcc -E + as on the same file with the same include path, run the same number of times.
  const t1 = performance.now();
  for (let i = 0; i < reps; i++) {
    const pre = spawnSync('gcc', ['-E', '-D__ASSEMBLY__', '-I', path.join(SAMPLES, 'include'), entry], { encoding: 'utf8' });
    if (pre.status !== 0) return void figures.push({ name: 'assemble sample', value: ours, unit: 's', note: `gcc -E failed: ${pre.stderr.slice(0, 200)}` });
    spawnSync('as', ['--64', '-o', path.join(tmp, 'e.o')], { input: pre.stdout });
  }
  const gnu = (performance.now() - t1) / reps / 1000;
  figures.push({ name: 'load (assemble + link + boot) the sample vs gcc -E + as', value: ours, unit: 's', reference: gnu, ratio: ours / gnu, note: 'ratio = ours / GNU (goal <= 1)' });
}

async function benchDapStep(): Promise<void> {
  const dc = new DebugClient('node', path.join(REPO, 'dist', 'debugAdapter.js'), 'kentry');
  await dc.start();
  try {
    await Promise.all([
      dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
      dc.launch({ stopOnEntry: true } as never),
      dc.waitForEvent('stopped'),
    ]);
    const times: number[] = [];
    for (let i = 0; i < 150; i++) {
      const t0 = performance.now();
      await Promise.all([dc.stepInRequest({ threadId: 1, granularity: 'instruction' }), dc.waitForEvent('stopped')]);
      const st = await dc.stackTraceRequest({ threadId: 1 });
      const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0]?.id ?? 0 });
      await dc.variablesRequest({ variablesReference: sc.body.scopes[0].variablesReference });
      times.push(performance.now() - t0);
      if (i > 100) break;
    }
    times.sort((a, b) => a - b);
    const pct = (p: number): number => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
    figures.push({ name: 'DAP step round trip p50 (step, stackTrace, scopes, variables)', value: pct(50), unit: 'ms', note: 'goal < 2 ms' });
    figures.push({ name: 'DAP step round trip p99', value: pct(99), unit: 'ms', note: 'goal < 10 ms' });
  } finally {
    await dc.stop();
  }
}

/**
 * Reverse-execution history: heap bytes per recorded instruction (measured with forced GCs
 * around a run, and the history's own estimate), and the speed cost of recording.
 */
async function benchHistory(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const file = path.join(tmp, 'history.S');
  // A mix like the entry code's: ALU, stack pushes/pops, memory stores, and syscalls.
  fs.writeFileSync(file, `
	.text
	.globl _start
_start:
	movl	$20000, %ebx
1:	pushq	%rbx
	movq	%rbx, -64(%rsp)
	addq	$3, %rax
	popq	%rcx
	decl	%ebx
	jnz	1b
	movl	$39, %eax
	syscall
${exitSequence}`);
  const run = (historyLimit: number): { rt: KentryRuntime; seconds: number; heap: number } => {
    const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, program: file, instructionBudget: 1e12, historyLimit });
    const errors = rt.load();
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n'));
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    while (!rt.exited) rt.stepInstruction();
    const seconds = (performance.now() - t0) / 1000;
    gc();
    return { rt, seconds, heap: process.memoryUsage().heapUsed - heap0 };
  };
  const off = run(0);
  const on = run(1e7);
  const n = on.rt.history?.length ?? 1;
  const measured = (on.heap - off.heap) / n;
  figures.push({ name: 'reverse execution: history bytes per instruction (heap, measured)', value: measured, unit: 'bytes', reference: (on.rt.history?.estimatedBytes() ?? 0) / n, note: `goal < 200; reference = the history's own estimate; ${n.toLocaleString('en')} instructions recorded` });
  figures.push({ name: 'reverse execution: recording slowdown (single-stepping)', value: on.seconds / off.seconds, unit: 'x', note: 'time with history / without' });
}

async function main(): Promise<void> {
  const parts: [string, () => unknown][] = [
    ['hot loop', benchHotLoop], ['syscalls', benchSyscalls], ['assemble', benchAssemble], ['dap', benchDapStep], ['history', benchHistory],
  ];
  const only = process.env.KENTRY_BENCH_ONLY; // e.g. "history": run one part while working on it
  for (const [name, fn] of parts) {
    if (only && name !== only) continue;
    try {
      await fn();
    } catch (e) {
      figures.push({ name, value: NaN, unit: '', note: `failed: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  const vsix = path.join(REPO, 'kentry.vsix');
  if (fs.existsSync(vsix)) figures.push({ name: '.vsix size', value: fs.statSync(vsix).size / 1e6, unit: 'MB', note: 'goal < 5 MB' });
  fs.mkdirSync(path.join(REPO, 'test-artifacts'), { recursive: true });
  const report = { machine: { cpus: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version }, date: new Date().toISOString(), figures };
  fs.writeFileSync(path.join(REPO, 'test-artifacts', 'bench.json'), JSON.stringify(report, null, 2));
  const fmt = (v: number): string => (Number.isFinite(v) ? (Math.abs(v) >= 1000 ? v.toExponential(3) : v.toPrecision(4)) : 'n/a');
  console.log(`machine: ${report.machine.cpus} x${report.machine.cores}, node ${report.machine.node}`);
  for (const f of figures) {
    console.log(`${f.name.padEnd(64)} ${fmt(f.value).padStart(10)} ${f.unit.padEnd(15)} ${f.reference !== undefined ? `ref ${fmt(f.reference)}` : ''} ${f.ratio !== undefined ? `ratio ${fmt(f.ratio)}` : ''}  ${f.note}`);
  }
}

void main();
