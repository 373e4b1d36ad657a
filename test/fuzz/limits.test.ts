/**
 * Limits: runaway input ends with a clear message at the right file:line instead of hanging or
 * eating memory. Include depth, macro recursion, expansion size, .rept counts, output size, the
 * instruction budget per continue (and pause during a long run), the reverse-execution history cap.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { assemble, preprocess } from '../../emulator/asm';
import { memoryFiles } from '../../emulator/host';
import { KentryRuntime, type StopEvent } from '../../emulator/runtime/runtime';
import { nodeFiles } from '../../debug-adapter/node-files';
import { SAMPLES } from '../support/paths';

function asmDiagnostics(files: Record<string, string>): string[] {
  return assemble({ file: '/t/main.S', fs: memoryFiles(files) }).diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`);
}

describe('limits: preprocessor and assembler', function () {
  this.timeout(120_000);
  it('#include cycle: stops at 64 levels and names the cycle', () => {
    const r = preprocess({ file: '/t/main.S', fs: memoryFiles({ '/t/main.S': '#include "a.h"\n', '/t/a.h': '#include "b.h"\n', '/t/b.h': 'nop\n#include "a.h"\n' }) });
    assert.deepEqual(r.diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`), ['/t/b.h:2: #include nested more than 64 deep (include cycle through /t/a.h)']);
  });

  it('.include cycle: the same limit for gas includes', () => {
    assert.deepEqual(asmDiagnostics({ '/t/main.S': '.include "a.s"\n', '/t/a.s': 'nop\n.include "main.S"\n' }), ['/t/main.S:1: .include nested more than 64 deep (include cycle through /t/a.s?)']);
  });

  it('a C macro that doubles 40 times: "macro expansion too large" on the line that uses it', () => {
    const defs = ['#define A0 x', ...Array.from({ length: 40 }, (_, i) => `#define A${i + 1} A${i} A${i}`)].join('\n');
    const r = preprocess({ file: '/t/main.S', fs: memoryFiles({ '/t/main.S': `${defs}\n.byte A40\n` }) });
    assert.ok(r.diagnostics.some((d) => d.loc.line === 42 && /macro expansion too large/.test(d.message)), JSON.stringify(r.diagnostics.map((d) => d.message)));
  });

  it('a recursive .macro: stops at 100 levels and names the macro', () => {
    const d = asmDiagnostics({ '/t/main.S': '.macro R\n\tnop\n\tR\n.endm\n\tR\n' });
    assert.equal(d.length, 1);
    assert.match(d[0], /^\/t\/main\.S:3: macros nested more than 100 deep \(recursive macro R\?\)$/);
  });

  it('nested .rept that multiplies to more than 2 million lines: "expansion too large"', () => {
    const d = asmDiagnostics({ '/t/main.S': '.rept 2000\n.rept 2000\nnop\n.endr\n.endr\n' });
    assert.ok(d.some((x) => /expansion too large \(more than 2000000 lines\)/.test(x)), d.join('\n'));
  });

  it('.rept 2000000 and .rept 1<<40: "count too large" at the .rept line', () => {
    assert.deepEqual(asmDiagnostics({ '/t/main.S': 'nop\n.rept 2000000\nnop\n.endr\n' }), ['/t/main.S:2: .rept count 2000000 too large']);
    assert.deepEqual(asmDiagnostics({ '/t/main.S': '.rept 1<<40\n.endr\n' }), ['/t/main.S:1: .rept count 1099511627776 too large']);
  });

  it('.fill and .skip beyond their limits are errors, not allocations', () => {
    assert.deepEqual(asmDiagnostics({ '/t/main.S': '.fill 1000000000, 8, 0\n.skip 1<<40\n' }), ['/t/main.S:1: .fill repeat count 1000000000 out of range', '/t/main.S:2: .skip size 1099511627776 too large']);
  });
});

describe('limits: running', function () {
  this.timeout(60_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-limits-'));
  const loop = path.join(tmp, 'loop.S');
  fs.writeFileSync(loop, '\t.text\n\t.globl _start\n_start:\n1:\tincq %rax\n\tjmp 1b\n');
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function runtime(opts: { instructionBudget?: number; historyLimit?: number }): KentryRuntime {
    const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, program: loop, ...opts });
    assert.deepEqual(rt.load(), []);
    return rt;
  }
  const nextStop = (rt: KentryRuntime): Promise<StopEvent> => new Promise((resolve) => rt.once('stopped', resolve));

  it('a runaway loop pauses after instructionBudget instructions, says why, and continue runs another budget', async () => {
    const rt = runtime({ instructionBudget: 20_000 });
    let stop = nextStop(rt);
    rt.start(false);
    const first = await stop;
    assert.equal(first.reason, 'pause');
    assert.match(first.description, /20,000 instructions ran without a stop \(instructionBudget\)/);
    const after1 = rt.system.machine.instructionsRetired;
    stop = nextStop(rt);
    rt.continue();
    assert.equal((await stop).reason, 'pause');
    assert.ok(rt.system.machine.instructionsRetired - after1 >= 20_000 && rt.system.machine.instructionsRetired - after1 <= 20_001);
  });

  it('pause stops a long run (budget 10^12) between slices', async () => {
    const rt = runtime({ instructionBudget: 1e12 });
    const stop = nextStop(rt);
    rt.start(false);
    setTimeout(() => rt.pause(), 50);
    const s = await stop;
    assert.equal(s.reason, 'pause');
    assert.match(s.description, /^Paused at /);
  });

  it('reverse-execution history keeps at most historyLimit steps and says so once', async () => {
    const rt = runtime({ instructionBudget: 30_000, historyLimit: 1000 });
    const said: string[] = [];
    rt.on('output', (t) => { if (/history is full/.test(t)) said.push(t); });
    const stop = nextStop(rt);
    rt.start(false);
    await stop;
    assert.ok(rt.history, 'history on');
    assert.ok(rt.history.length <= 1000, `history holds ${rt.history.length}`);
    assert.equal(said.length, 1);
    assert.match(said[0], /only the last 1,000 instructions are kept \(launch attribute historyLimit\)/);
  });
});
