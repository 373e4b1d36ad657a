/**
 * The language server as VS Code sees it: a real JSON-RPC client over stdio, the seed file
 * opened from ../shared/seed, hovers, definitions, outline, inactive regions and diagnostics.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { INACTIVE_REGIONS_NOTIFICATION, type InactiveRegionsParams } from '../../../language-server/protocol';
import { positionOf, repoRoot, seedDir, startServer, uriOf, type LspSession } from './lsp-client';

const seedS = path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.S');
const seedMd = path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.md');
const fixtures = path.join(repoRoot, 'test/fixtures/lsp');

interface Hover { contents: { kind: string; value: string } }

describe('kentry-asm language server over JSON-RPC', function () {
  let lsp: LspSession;
  const seedText = fs.readFileSync(seedS, 'utf8');

  before(async () => {
    lsp = await startServer({ annotationNotes: [seedMd], includeDirs: [path.join(fixtures, 'include')], diagnosticsDelayMs: 50 });
    await lsp.open(seedS, seedText);
  });
  after(async () => lsp?.close());

  const hover = async (file: string, at: { line: number; character: number }): Promise<string> => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(file) }, position: at })) as Hover | null;
    return h?.contents.value ?? '';
  };

  it('hover on swapgs shows the annotation above it, with the fenced MSR defines, and what swapgs does', async () => {
    const md = await hover(seedS, positionOf(seedText, 'swapgs', 2));
    assert.match(md, /Swap user GS and kernel GS\./);
    assert.match(md, /```\n#define MSR_FS_BASE\t\t0xc0000100\n#define MSR_GS_BASE\t\t0xc0000101\n#define MSR_KERNEL_GS_BASE\t0xc0000102\n```/);
    assert.doesNotMatch(md, /^\s*\* /m, 'the comment gutter is stripped');
    assert.match(md, /\*\*swapgs\*\*: Exchanges GS_BASE with KERNEL_GS_BASE/);
  });

  it('hover on TSS_sp2 gives its asm-offset value and what the slot is for', async () => {
    const md = await hover(seedS, positionOf(seedText, 'TSS_sp2)', 3));
    assert.match(md, /\*\*TSS_sp2\*\* = `20`/);
    assert.match(md, /saves the user RSP/);
  });

  it('hover on MSR_KERNEL_GS_BASE inside the annotation\'s fence gives the MSR and what it holds', async () => {
    const md = await hover(seedS, positionOf(seedText, 'MSR_KERNEL_GS_BASE', 4));
    assert.match(md, /\*\*MSR_KERNEL_GS_BASE\*\* = `0xc0000102`/);
    assert.match(md, /SWAPGS exchanges/);
    assert.strictEqual(await hover(seedS, positionOf(seedText, 'Swap user GS', 1)), '', 'plain prose has no hover');
  });

  it('hover on $__USER_DS gives the selector 0x2b', async () => {
    const md = await hover(seedS, positionOf(seedText, '$__USER_DS', 3));
    assert.match(md, /\*\*__USER_DS\*\* = `0x2b`/);
    assert.match(md, /pt_regs->ss/, 'the trailing comment is shown too');
  });

  it('hover on a line inside an instruction group shows the comment above the group', async () => {
    const md = await hover(seedS, positionOf(seedText, 'pushq	%r11', 2));
    assert.match(md, /Construct struct pt_regs on stack\./);
    assert.match(md, /pt_regs->flags/);
  });

  it('a note annotates a real file without those comments: lines are aligned, the note\'s comment is shown', async () => {
    // The "real" entry_64.S excerpt: the seed without its annotation comments, re-indented with spaces.
    const real = seedText.split('\n').filter((l) => !/^\s*(\/\*|\*)/.test(l)).map((l) => l.replace(/^\t/, '        ')).join('\n');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-lsp-')), 'entry_64.S');
    fs.writeFileSync(file, real);
    await lsp.open(file, real);
    const md = await hover(file, positionOf(real, 'swapgs', 2));
    assert.match(md, /Note \(entry_SYSCALL_64\.v5\.8\.13\.annotated\.md:\d+\)/);
    assert.match(md, /Swap user GS and kernel GS\./);
    const sysret = await hover(file, positionOf(real, 'POP_REGS', 2));
    assert.match(sysret, /rcx and r11 are already restored/);
  });

  it('keeps Japanese comments and hash-comment blocks', async () => {
    const file = path.join(fixtures, 'annotated.S');
    const text = fs.readFileSync(file, 'utf8');
    await lsp.open(file, text);
    assert.match(await hover(file, positionOf(text, 'swapgs', 1)), /ユーザーの GS とカーネルの GS を入れ替える。/);
    const scratch = await hover(file, positionOf(text, 'SAVE_SCRATCH %rax', 1));
    assert.match(scratch, /Save the scratch register\n\(two hash comment lines form one block\)\./);
    assert.match(await hover(file, positionOf(text, 'ZERO %eax', 1)), /戻り値をゼロにする/);
  });

  it('go to definition: a .macro in an included header, a local .macro, a numeric label, the #include file', async () => {
    const file = path.join(fixtures, 'annotated.S');
    const text = fs.readFileSync(file, 'utf8');
    const def = async (needle: string, offset = 1) =>
      (await lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(file) }, position: positionOf(text, needle, offset) })) as
        { uri: string; range: { start: { line: number } } } | null;
    const header = path.join(fixtures, 'include/kentry-lsp-test.h');
    assert.deepStrictEqual(await def('SAVE_SCRATCH %rax'), { uri: uriOf(header), range: { start: { line: 3, character: 7 }, end: { line: 3, character: 7 } } });
    assert.strictEqual((await def('ZERO %eax'))?.range.start.line, 12);
    assert.strictEqual((await def('1b'))?.range.start.line, 18);
    assert.strictEqual((await def('kentry-lsp-test.h'))?.uri, uriOf(header));
  });

  it('document symbols outline SYM_CODE_START functions with their labels', async () => {
    const syms = (await lsp.connection.sendRequest('textDocument/documentSymbol', { textDocument: { uri: uriOf(seedS) } })) as
      Array<{ name: string; range: { start: { line: number }; end: { line: number } }; children: Array<{ name: string }> }>;
    const entry = syms.find((s) => s.name === 'entry_SYSCALL_64');
    assert.ok(entry, 'entry_SYSCALL_64 is in the outline');
    assert.strictEqual(entry.range.end.line, seedText.split('\n').findIndex((l) => l.startsWith('SYM_CODE_END')));
    assert.deepStrictEqual(entry.children.map((c) => c.name), ['entry_SYSCALL_64_after_hwframe', 'syscall_return_via_sysret']);
  });

  it('marks the CONFIG_X86_5LEVEL branch inactive when the config does not set it', async () => {
    const p = await lsp.waitFor<InactiveRegionsParams>(INACTIVE_REGIONS_NOTIFICATION, (x) => x.uri === uriOf(seedS));
    const lines = seedText.split('\n');
    const ifdef = lines.findIndex((l) => l.startsWith('#ifdef CONFIG_X86_5LEVEL'));
    const els = lines.findIndex((l) => l.startsWith('#else'));
    assert.deepStrictEqual(p.regions, [{ startLine: ifdef + 1, endLine: els - 1 }]);
  });

  it('drops the note\'s comments when the annotationNotes setting is emptied', async () => {
    const real = seedText.split('\n').filter((l) => !/^\s*(\/\*|\*)/.test(l)).join('\n');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-lsp-')), 'entry_64.S');
    await lsp.open(file, real);
    assert.match(await hover(file, positionOf(real, 'swapgs', 2)), /Swap user GS and kernel GS/);
    await lsp.connection.sendNotification('workspace/didChangeConfiguration', { settings: { kentry: { annotationNotes: [] } } });
    assert.doesNotMatch(await hover(file, positionOf(real, 'swapgs', 2)), /Swap user GS and kernel GS/);
    await lsp.connection.sendNotification('workspace/didChangeConfiguration', { settings: { kentry: { annotationNotes: [seedMd] } } });
  });

  it('publishes assembler diagnostics for an unknown instruction on its line', async () => {
    const file = path.join(fixtures, 'broken.S');
    await lsp.open(file, fs.readFileSync(file, 'utf8'));
    const p = await lsp.waitFor<{ uri: string; diagnostics: Array<{ range: { start: { line: number } }; message: string; severity: number }> }>(
      'textDocument/publishDiagnostics', (x) => x.uri === uriOf(file) && x.diagnostics.length > 0);
    assert.strictEqual(p.diagnostics[0].range.start.line, 2);
    assert.strictEqual(p.diagnostics[0].severity, 1);
    assert.match(p.diagnostics[0].message, /frobnicate/);
  });
});
