/**
 * The language server on a real, prepared Linux 6.1 tree (scripts/linux-trees.sh): documents are
 * built as the debugger builds them (emulator/kernel/sources.ts kernelBuild), so hovers give the
 * tree's own numbers and config, not the bundled 5.8 profile's. Skipped when the tree is absent.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KERNEL_PROFILES } from '../../../emulator/kernel/profiles';
import { GENERATED_HEADER_REQUEST, GENERATED_SCHEME, type GeneratedHeaderResult } from '../../../language-server/protocol';
import { positionOf, repoRoot, startServer, uriOf, type LspSession } from './lsp-client';

const samplesDir = path.join(repoRoot, 'samples');
const tree = path.join(repoRoot, '.cache/linux/linux-source-6.1');
const entry = path.join(tree, 'arch/x86/entry/entry_64.S');
const asmOffsetsH = path.join(tree, 'include/generated/asm-offsets.h');

type Hover = { contents: { value: string } } | null;

describe('kentry-asm language server on the prepared Linux 6.1 tree', function () {
  let lsp: LspSession;
  let text: string;
  const hover = async (needle: string, offset: number): Promise<string> => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(entry) }, position: positionOf(text, needle, offset) })) as Hover;
    return h?.contents.value ?? '';
  };

  before(async function () {
    if (!fs.existsSync(asmOffsetsH)) this.skip();
    text = fs.readFileSync(entry, 'utf8');
    lsp = await startServer({ kernel: { samplesDir }, diagnosticsDelayMs: 0 });
    await lsp.open(entry, text);
  });
  after(async () => lsp?.close());

  it('the real file has no problems', async () => {
    const p = await lsp.waitFor<{ uri: string; diagnostics: { message: string; range: { start: { line: number } } }[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(entry));
    assert.deepStrictEqual(p.diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
  });

  it('CONFIG_X86_5LEVEL is the tree\'s y (the bundled 5.8 default is n), from its autoconf.h', async () => {
    assert.strictEqual(KERNEL_PROFILES['5.8'].config.X86_5LEVEL, false, 'the value differs from 5.8');
    const h = await hover('#ifdef CONFIG_X86_5LEVEL', 10);
    assert.match(h, /\*\*CONFIG_X86_5LEVEL\*\* = `y`/);
    assert.match(h, /linux-source-6\.1\/include\/generated\/autoconf\.h/);
  });

  it('an asm-offset the 5.8 profile lacks has the tree\'s include/generated/asm-offsets.h value', async () => {
    const want = /^#define TASK_threadsp (\d+)/m.exec(fs.readFileSync(asmOffsetsH, 'utf8'))![1];
    assert.strictEqual(KERNEL_PROFILES['5.8'].asmOffsets.TASK_threadsp, undefined);
    const h = await hover('TASK_threadsp(%rdi)', 3);
    assert.match(h, new RegExp(`\\*\\*TASK_threadsp\\*\\* = \`${want}\``));
    assert.match(h, /asm-offset \(Linux v6\.1\.\d+: .*include\/generated\/asm-offsets\.h\)/);
  });

  it('X86_FEATURE_* numbers come from the tree\'s cpufeatures.h (X86_FEATURE_XENPV = 8*32+16)', async () => {
    const h = await hover('X86_FEATURE_XENPV', 3);
    assert.match(h, /\*\*X86_FEATURE_XENPV\*\* = `272`/);
    assert.match(h, /cpufeatures\.h/);
  });

  it('go to definition of TASK_threadsp opens the tree\'s own generated asm-offsets.h', async () => {
    const loc = (await lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(entry) }, position: positionOf(text, 'TASK_threadsp(%rdi)', 3) })) as { uri: string; range: { start: { line: number } } };
    assert.strictEqual(loc?.uri, uriOf(asmOffsetsH));
    assert.match(fs.readFileSync(asmOffsetsH, 'utf8').split('\n')[loc.range.start.line], /^#define TASK_threadsp /);
  });
});

/**
 * An unbuilt tree (the same sources without include/generated/, made of symlinks in a temp dir):
 * its asm-offsets.h exists only in memory, so go to definition answers a kentry-generated: URI
 * that the server serves, with the line the assembler used.
 */
describe('kentry-asm language server on an unbuilt Linux 6.1 tree', function () {
  let lsp: LspSession;
  let root: string;
  let file: string;
  let text: string;

  before(async function () {
    if (!fs.existsSync(asmOffsetsH)) this.skip();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-unbuilt-'));
    for (const e of fs.readdirSync(tree)) if (e !== 'include') fs.symlinkSync(path.join(tree, e), path.join(root, e));
    fs.mkdirSync(path.join(root, 'include'));
    for (const e of fs.readdirSync(path.join(tree, 'include'))) if (e !== 'generated') fs.symlinkSync(path.join(tree, 'include', e), path.join(root, 'include', e));
    file = path.join(root, 'arch/x86/entry/entry_64.S');
    text = fs.readFileSync(file, 'utf8');
    lsp = await startServer({ kernel: { samplesDir }, diagnosticsDelayMs: 0 });
    await lsp.open(file, text);
  });
  after(async () => {
    await lsp?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('no problems, and TASK_threadsp goes to its line in the in-memory include/generated/asm-offsets.h', async () => {
    const p = await lsp.waitFor<{ uri: string; diagnostics: { message: string }[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(file));
    assert.deepStrictEqual(p.diagnostics.map((d) => d.message), []);
    const loc = (await lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(file) }, position: positionOf(text, 'TASK_threadsp(%rdi)', 3) })) as { uri: string; range: { start: { line: number } } };
    assert.strictEqual(loc?.uri, `${GENERATED_SCHEME}:/tree${root}/include/generated/asm-offsets.h`);
    const served = (await lsp.connection.sendRequest(GENERATED_HEADER_REQUEST, { uri: loc.uri })) as GeneratedHeaderResult;
    assert.match(served?.text.split('\n')[loc.range.start.line] ?? '', /^#define TASK_threadsp \d+/);
  });
});
