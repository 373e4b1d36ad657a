/**
 * What a user notices when opening the real Linux 6.1 entry_64.S: the first hover answers at once
 * with everything that needs no assembly (the comment above, what the instruction does, the
 * tree's asm-offsets) and says the rest is coming, while the file assembles on a worker thread;
 * once the diagnostics are in, the same hover has the expansion. After an edit, hovers show the
 * new text at once, never the old version's expansions. Asserts on content and on the order of
 * messages, never on time.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { AssemblyService } from '../../../language-server/assembly-service';
import type { AssemblyJob, AssemblyResult } from '../../../language-server/assembly-job';
import { ASSEMBLING_NOTE } from '../../../language-server/hover';
import { positionOf, repoRoot, startServer, uriOf, type LspSession } from './lsp-client';

const samplesDir = path.join(repoRoot, 'samples');
const tree = path.join(repoRoot, '.cache/linux/linux-source-6.1');
const entry = path.join(tree, 'arch/x86/entry/entry_64.S');
const asmOffsetsH = path.join(tree, 'include/generated/asm-offsets.h');

type Hover = { contents: { value: string } } | null;
const DIAGNOSTICS = 'textDocument/publishDiagnostics';

describe('kentry-asm language server: the first hover does not wait for the assembly (real Linux 6.1)', function () {
  let lsp: LspSession;
  let text: string;
  const uri = (): string => uriOf(entry);
  const hoverAt = async (at: { line: number; character: number }): Promise<string> => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uri() }, position: at })) as Hover;
    return h?.contents.value ?? '';
  };
  const diagnosticsSeen = (version?: number): boolean =>
    lsp.seen.some((n) => n.method === DIAGNOSTICS && (n.params as { uri: string; version?: number }).uri === uri() && (version === undefined || (n.params as { version?: number }).version === version));
  const diagnosticsFor = (version: number): Promise<unknown> =>
    lsp.waitFor<{ uri: string; version?: number }>(DIAGNOSTICS, (p) => p.uri === uri() && p.version === version);

  before(async function () {
    if (!fs.existsSync(asmOffsetsH)) this.skip();
    text = fs.readFileSync(entry, 'utf8');
    // The editor's default typing pause: the open must not wait for it.
    lsp = await startServer({ kernel: { samplesDir } });
  });
  after(async () => lsp?.close());

  it('a hover sent right after didOpen has the comment and the instruction, marked "(assembling…)", before the diagnostics arrive', async () => {
    await lsp.open(entry, text);
    const md = await hoverAt(positionOf(text, 'movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', 1));
    assert.ok(!diagnosticsSeen(), 'the hover was answered before the assembly finished');
    assert.match(md, /tss\.sp2 is scratch space\./);
    assert.match(md, /\*\*movq\*\*: /);
    assert.ok(md.endsWith(ASSEMBLING_NOTE), md);
    assert.doesNotMatch(md, /After the preprocessor|Expands to/);
  });

  it('the tree\'s asm-offsets need no assembly either', async () => {
    const md = await hoverAt(positionOf(text, 'TASK_threadsp(%rdi)', 3));
    assert.match(md, /\*\*TASK_threadsp\*\* = `\d+`/);
  });

  it('once the diagnostics are published, the same hovers have the expansion and the line after cpp, and no "(assembling…)"', async () => {
    await diagnosticsFor(1);
    const macro = await hoverAt(positionOf(text, 'SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp', 1));
    assert.match(macro, /\*\*Expands to\*\* \(SWITCH_TO_KERNEL_CR3, \d+ statements\)/);
    assert.match(macro, /\*\*At boot on the intel CPU\*\*/);
    assert.ok(!macro.includes(ASSEMBLING_NOTE));
    const complaints = lsp.seen.filter((n) => n.method === 'window/logMessage' && /assembl/.test((n.params as { message: string }).message));
    assert.deepStrictEqual(complaints, [], 'the worker thread did the assembly');
    const movq = await hoverAt(positionOf(text, 'movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', 1));
    assert.match(movq, /\*\*After the preprocessor:\*\*/);
    assert.ok(!movq.includes(ASSEMBLING_NOTE));
  });

  it('after an edit, hovers show the new text at once and the new version\'s expansion once it is assembled', async () => {
    const edited = text.replace('\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rsp\n', '\t/* Edited: now on the kernel page tables. */\n\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rsp\n');
    assert.notStrictEqual(edited, text);
    await lsp.connection.sendNotification('textDocument/didChange', { textDocument: { uri: uri(), version: 2 }, contentChanges: [{ text: edited }] });
    const at = positionOf(edited, 'SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp', 1);
    const now = await hoverAt(at);
    assert.match(now, /Edited: now on the kernel page tables\./);
    // Version 1's expansion belongs to other line numbers: it must not show on version 2.
    assert.ok(now.endsWith(ASSEMBLING_NOTE), now);
    assert.doesNotMatch(now, /Expands to/);
    await diagnosticsFor(2);
    const later = await hoverAt(at);
    assert.match(later, /Edited: now on the kernel page tables\./);
    assert.match(later, /\*\*Expands to\*\* \(SWITCH_TO_KERNEL_CR3, \d+ statements\)/);
    // The line that moved down into the old position has no expansion of its own.
    assert.doesNotMatch(await hoverAt({ line: at.line - 1, character: 4 }), /Expands to/);
  });
});

describe('AssemblyService without a worker', function () {
  it('runs the job on the calling thread when the worker cannot start, and says why', async () => {
    const logged: string[] = [];
    const job: AssemblyJob = { file: '/x.S', version: 3, text: 'nop\n', options: {}, overlay: [], diskEpoch: 0 };
    const answer: AssemblyResult = { file: '/x.S', version: 3, diagnostics: [{ line: 0, severity: 'warning', message: 'from this thread' }], preprocessed: [], alternatives: [] };
    const service = new AssemblyService(path.join(repoRoot, 'no-such-worker.js'), () => answer, (m) => logged.push(m));
    try {
      const r = await service.run(job);
      assert.deepStrictEqual(r, answer);
      assert.ok(logged.some((m) => /assembl/.test(m)), logged.join('\n'));
    } finally {
      service.dispose();
    }
  });

  it('a newer job for the same file replaces one still waiting (it resolves undefined)', async () => {
    const service = new AssemblyService(path.join(repoRoot, 'no-such-worker.js'), (j) => ({ file: j.file, version: j.version, diagnostics: [], preprocessed: [], alternatives: [] }), () => undefined);
    const job = (version: number): AssemblyJob => ({ file: '/y.S', version, text: '', options: {}, overlay: [], diskEpoch: 0 });
    try {
      const [a, b, c] = await Promise.all([service.run(job(1)), service.run(job(2)), service.run(job(3))]);
      assert.strictEqual(a?.version, 1, 'the first one had started already');
      assert.strictEqual(b, undefined);
      assert.strictEqual(c?.version, 3);
    } finally {
      service.dispose();
    }
  });
});
