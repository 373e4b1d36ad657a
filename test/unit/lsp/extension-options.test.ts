/**
 * The language server started the way the extension starts it: initializationOptions from the
 * extension's settings (extension/language/serverOptions.ts) with default settings and the seed's
 * note in `kentry.annotationNotes`. The seed must open with no problems at all (it is an excerpt:
 * the server needs the kernel prelude the debugger uses), and a settings change re-sent by the
 * client (didChangeConfiguration) must rebuild it with the new kernel config.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { serverOptionsFor, settingsNotification } from '../../../extension/language/serverOptions';
import { INACTIVE_REGIONS_NOTIFICATION, type InactiveRegionsParams } from '../../../language-server/protocol';
import { positionOf, repoRoot, seedDir, startServer, uriOf, type LspSession } from './lsp-client';

const seedS = path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.S');
const samplesDir = path.join(repoRoot, 'samples');

describe('kentry-asm language server with the options the extension passes', function () {
  let lsp: LspSession;
  const text = fs.readFileSync(seedS, 'utf8');
  const lines = text.split('\n');
  const ifdef = lines.findIndex((l) => /^#ifdef CONFIG_X86_5LEVEL/.test(l));
  const els = lines.findIndex((l, i) => i > ifdef && l.startsWith('#else'));
  const endif = lines.findIndex((l, i) => i > els && l.startsWith('#endif'));

  before(async () => {
    // What a user gets with `"kentry.annotationNotes": ["entry_SYSCALL_64.v5.8.13.annotated.md"]` in the seed's folder.
    const options = serverOptionsFor({ annotationNotes: ['entry_SYSCALL_64.v5.8.13.annotated.md'] }, samplesDir, seedDir);
    assert.deepStrictEqual(options.annotationNotes, [path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.md')]);
    lsp = await startServer({ ...options, diagnosticsDelayMs: 0 });
    await lsp.open(seedS, text);
  });
  after(async () => lsp?.close());

  it('the seed has no problems, and the CONFIG_X86_5LEVEL branch (off by default) is inactive', async () => {
    const p = await lsp.waitFor<{ uri: string; diagnostics: { message: string; range: { start: { line: number } } }[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(seedS));
    assert.deepStrictEqual(p.diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
    const r = await lsp.waitFor<InactiveRegionsParams>(INACTIVE_REGIONS_NOTIFICATION, (x) => x.uri === uriOf(seedS));
    assert.deepStrictEqual(r.regions, [{ startLine: ifdef + 1, endLine: els - 1 }]);
  });

  it('hovers show the 5.8 profile\'s values', async () => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'TSS_sp2)', 3) })) as { contents: { value: string } };
    assert.match(h.contents.value, /\*\*TSS_sp2\*\* = `20`/);
  });

  it('a kentry.kernel.config change re-sent by the client switches the greyed-out branch', async () => {
    const changed = serverOptionsFor({ kernelConfig: { CONFIG_X86_5LEVEL: true } }, samplesDir, seedDir);
    assert.deepStrictEqual(changed.kernel?.config, { X86_5LEVEL: true }, 'CONFIG_ prefix accepted');
    const next = lsp.waitFor<InactiveRegionsParams>(INACTIVE_REGIONS_NOTIFICATION, (x) => x.uri === uriOf(seedS) && x.regions[0]?.startLine === els + 1);
    await lsp.connection.sendNotification('workspace/didChangeConfiguration', settingsNotification(changed));
    assert.deepStrictEqual((await next).regions, [{ startLine: els + 1, endLine: endif - 1 }]);
    const p = await lsp.waitFor<{ uri: string; diagnostics: unknown[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(seedS));
    assert.deepStrictEqual(p.diagnostics, []);
  });

  it('settings of the wrong type are ignored, not passed on', () => {
    const o = serverOptionsFor({ annotationNotes: 'notes.md', kernelVersion: 5, kernelConfig: { X86_5LEVEL: 'yes' } }, samplesDir);
    assert.deepStrictEqual(o, { annotationNotes: [], kernel: { samplesDir, version: undefined, config: undefined } });
  });
});

/** The same default options on the real trees scripts/linux-trees.sh extracts (read at test time; skipped when absent). */
for (const tree of ['linux-source-6.1', 'linux-source-6.12']) {
  const file = path.join(repoRoot, '.cache/linux', tree, 'arch/x86/entry/entry_64.S');
  (fs.existsSync(file) ? describe : describe.skip)(`kentry-asm language server with the extension's default options on ${tree}'s entry_64.S`, function () {
    let lsp: LspSession;
    let text: string;
    before(async () => {
      text = fs.readFileSync(file, 'utf8');
      lsp = await startServer({ ...serverOptionsFor({}, samplesDir), diagnosticsDelayMs: 0 });
      await lsp.open(file, text);
    });
    after(async () => lsp?.close());

    it('no problems (the tree\'s own headers and config), some #if branches greyed out, asm-offsets in hovers', async () => {
      const p = await lsp.waitFor<{ uri: string; diagnostics: { message: string; range: { start: { line: number } } }[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(file));
      assert.deepStrictEqual(p.diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
      const r = await lsp.waitFor<InactiveRegionsParams>(INACTIVE_REGIONS_NOTIFICATION, (x) => x.uri === uriOf(file));
      assert.ok(r.regions.length > 0, 'the defconfig leaves some branches out');
      const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(file) }, position: positionOf(text, 'TSS_sp2)', 3) })) as { contents: { value: string } };
      assert.match(h.contents.value, /\*\*TSS_sp2\*\* = `20`/);
    });
  });
}
