/**
 * Cases the fuzzers found, kept so they stay fixed. Each one once crashed, hung or ran out of
 * memory; now it ends with a clear diagnostic at the right file:line.
 */
import { strict as assert } from 'assert';
import { assemble } from '../../emulator/asm';
import { memoryFiles } from '../../emulator/host';
import { evaluate, type EvalContext } from '../../emulator/runtime/evaluate';
import { newCpuState } from '../../emulator/machine/state';
import { KentryDebugSession } from '../../debug-adapter/session';
import { nodeFiles } from '../../debug-adapter/node-files';
import { SAMPLES } from '../support/paths';
import { InlineClient } from './inline-client';
import * as fs from 'fs';
import * as path from 'path';
import { startServer, uriOf, type LspSession } from '../unit/lsp/lsp-client';

function diagnose(files: Record<string, string>, main = '/fuzz/main.S'): string[] {
  const obj = assemble({ file: main, fs: memoryFiles(files) });
  return obj.diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`);
}

describe('fuzz regressions: assembler', () => {
  it('a file that .includes itself stops at the include depth limit instead of running out of memory', () => {
    const d = diagnose({ '/fuzz/main.S': '.include "a.h"\n', '/fuzz/a.h': '.include "a.h"\nnop\n' });
    assert.deepEqual(d, ['/fuzz/a.h:1: .include nested more than 64 deep (include cycle through /fuzz/a.h?)']);
  });

  it('a header that #includes (or .includes) itself twice stops after 10000 inclusions instead of branching 2^64 ways (found by the LSP fuzzer)', () => {
    for (const twice of ['#include "b.h"\n#include "b.h"\n', '.include "b.h"\n.include "b.h"\n']) {
      const d = diagnose({ '/fuzz/main.S': twice, '/fuzz/b.h': twice });
      assert.ok(d.length > 0 && d.length < 20_000, `${d.length} diagnostics`);
      assert.ok(d.some((m) => /^\/fuzz\/b\.h:[12]: (#|\.)include nested more than 64 deep \(include cycle through \/fuzz\/b\.h\??\)$/.test(m)), d[0]);
      assert.ok(d.some((m) => /more than 10000 (#|\.)includes in all \(include cycle through \/fuzz\/b\.h\?\)/.test(m)), 'the budget is reported');
    }
  });

  it('.org far forward is an error, not gigabytes of padding', () => {
    assert.deepEqual(diagnose({ '/fuzz/main.S': 'nop\n.org 0x7fffffff\n' }), ['/fuzz/main.S:2: .org moves more than 256 MiB forward']);
  });

  it('.space blocks that add up to more than 256 MiB are dropped with an error', () => {
    const d = diagnose({ '/fuzz/main.S': '.space 0x8000000\n.space 0x8000000\n.space 0x8000000\n' });
    assert.deepEqual(d, ['/fuzz/main.S:3: output larger than 256 MiB: data dropped']);
  });
});

describe('fuzz regressions: expression evaluator', () => {
  const ctx: EvalContext = {
    state: newCpuState(),
    read: () => 0n,
    symbol: () => undefined,
    perCpu: () => undefined,
    ptRegsBase: () => undefined,
  };

  it('names of Object.prototype members are unknown names, not internal errors', () => {
    assert.deepEqual(evaluate(ctx, '__proto__'), { error: 'unknown name "__proto__"' });
    assert.deepEqual(evaluate(ctx, 'constructor'), { error: 'unknown name "constructor"' });
    assert.deepEqual(evaluate(ctx, '(struct constructor *)0'), { error: 'unknown type "struct constructor"' });
  });

  it('100000 nested parentheses are an error message, not a stack overflow or a quadratic tokenizer', () => {
    assert.deepEqual(evaluate(ctx, '('.repeat(100_000) + '1' + ')'.repeat(100_000)), { error: 'expression nested more than 500 deep' });
  });
});

describe('fuzz regressions: DAP session', function () {
  this.timeout(60_000);
  let client: InlineClient;
  beforeEach(async () => {
    client = new InlineClient(new KentryDebugSession({ fs: nodeFiles, samplesDir: SAMPLES }));
    await client.send('initialize', { adapterID: 'kentry' }, 5000);
    const initialized = client.waitFor(['initialized'], 30_000);
    const launched = client.send('launch', { stopOnEntry: true }, 30_000);
    await initialized;
    await client.send('configurationDone', {}, 5000);
    assert.equal((await launched)?.success, true);
  });
  afterEach(() => client.send('disconnect', {}, 5000));

  it('readMemory with a memoryReference that is not a number gets an error response (it used to get none)', async () => {
    const r = await client.send('readMemory', { memoryReference: 'not a number', count: 8 }, 5000);
    assert.equal(r?.success, false);
    assert.match(r?.message ?? '', /readMemory failed: Cannot convert not a number to a BigInt/);
    assert.equal((await client.send('threads', {}, 5000))?.success, true, 'the session keeps answering');
  });

  it('setBreakpoints without a source gets an error response', async () => {
    const r = await client.send('setBreakpoints', { breakpoints: [{ line: 1 }] }, 5000);
    assert.equal(r?.success, false);
  });

  it('disassemble of 2^31 instructions answers at once with at most 10000 (it used to run for minutes)', async () => {
    const r = await client.send('disassemble', { memoryReference: '0x401000', instructionCount: 2 ** 31 }, 20_000);
    assert.equal(r?.success, true);
    assert.ok((r?.body as { instructions: unknown[] }).instructions.length <= 10_000);
  });

  it('readMemory of 2^40 bytes returns at most 1 MiB instead of running out of memory', async () => {
    const r = await client.send('readMemory', { memoryReference: '0x401000', count: 2 ** 40 }, 20_000);
    assert.equal(r?.success, true);
    assert.ok(Buffer.from((r?.body as { data: string }).data, 'base64').length <= 1 << 20);
  });
});

describe('fuzz regressions: language server', function () {
  this.timeout(60_000);
  const sample = path.join(SAMPLES, 'entry_64.S');
  const text = fs.readFileSync(sample, 'utf8');
  const swapgsLine = text.split('\n').findIndex((l) => l.trim() === 'swapgs');
  let lsp: LspSession;
  beforeEach(async () => {
    lsp = await startServer({ kernel: { samplesDir: SAMPLES }, diagnosticsDelayMs: 5 });
  });
  afterEach(() => lsp.close());
  const failures = (): string[] => lsp.seen.filter((n) => n.method === 'window/logMessage' && (n.params as { type: number }).type === 1).map((n) => (n.params as { message: string }).message);
  const hover = async (): Promise<string> => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(sample) }, position: { line: swapgsLine, character: 2 } })) as { contents: { value: string } } | null;
    return h?.contents.value ?? '';
  };

  it('settings of the wrong type (annotationNotes: true, languageServer: 5) are ignored: edits still analyse, hovers still answer', async () => {
    await lsp.openAssembled(sample, text);
    await lsp.connection.sendNotification('workspace/didChangeConfiguration', { settings: { kentry: { annotationNotes: true, languageServer: 822147428 } } });
    await lsp.connection.sendNotification('workspace/didChangeConfiguration', { settings: { kentry: { languageServer: { includeDirs: 'x', defines: [], kernel: { samplesDir: 7 }, diagnosticsDelayMs: {} } } } });
    const published = lsp.waitFor<{ uri: string; version?: number }>('textDocument/publishDiagnostics', (p) => p.uri === uriOf(sample) && p.version === 2);
    await lsp.connection.sendNotification('textDocument/didChange', { textDocument: { uri: uriOf(sample), version: 2 }, contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '' }] });
    await published;
    assert.match(await hover(), /Exchange GS_BASE \(the user's\) with KERNEL_GS_BASE/);
    assert.deepEqual(failures(), []);
  });
});
