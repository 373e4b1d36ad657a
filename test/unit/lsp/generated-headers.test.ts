/**
 * Go to definition into kentry's in-memory generated headers (asm-offsets.h, cpufeatures.h ...):
 * the server answers a `kentry-generated:` URI and serves its text by GENERATED_HEADER_REQUEST,
 * and that text is the one the debugger assembled with and shows for the same kernel settings.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { generatedPathOf, generatedUriOf } from '../../../language-server/generated-uris';
import { GENERATED_HEADER_REQUEST, type GeneratedHeaderResult } from '../../../language-server/protocol';
import { buildAdapter, Dap } from '../../dap/dap-helpers';
import { positionOf, repoRoot, seedDir, startServer, uriOf, type LspSession } from './lsp-client';

const seedS = path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.S');
const samplesDir = path.join(repoRoot, 'samples');
const ASM_OFFSETS = 'kentry-generated:/generated/asm-offsets.h';

interface Loc { uri: string; range: { start: { line: number; character: number } } }

describe('go to definition into generated headers', function () {
  let lsp: LspSession;
  const text = fs.readFileSync(seedS, 'utf8');
  const config = { X86_5LEVEL: true };
  const definition = (needle: string, offset = 2): Promise<Loc | null> =>
    lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, needle, offset) }) as Promise<Loc | null>;
  const header = (uri: string): Promise<GeneratedHeaderResult> => lsp.connection.sendRequest(GENERATED_HEADER_REQUEST, { uri }) as Promise<GeneratedHeaderResult>;

  before(async () => {
    lsp = await startServer({ kernel: { samplesDir, config }, diagnosticsDelayMs: 0 });
    await lsp.open(seedS, text);
  });
  after(async () => lsp?.close());

  it('TSS_sp2 in the seed goes to its #define line in kentry-generated:/generated/asm-offsets.h', async () => {
    const loc = await definition('cpu_tss_rw + TSS_sp2', 'cpu_tss_rw + '.length + 2);
    assert.strictEqual(loc?.uri, ASM_OFFSETS);
    const served = await header(loc.uri);
    assert.ok(served, 'the server serves the URI it answered');
    assert.match(served.text, /^#define TSS_sp2 20$/m);
    const line = served.text.split('\n')[loc.range.start.line];
    assert.strictEqual(line, '#define TSS_sp2 20');
    assert.strictEqual(line.slice(loc.range.start.character).split(' ')[0], 'TSS_sp2');
  });

  it('pt_regs offsets, X86_FEATURE_* and CONFIG_* land on their lines in the other generated headers', async () => {
    for (const [needle, uri, re] of [
      ['RIP(%rsp)', ASM_OFFSETS, /^#define RIP \d+ /],
      ['X86_FEATURE_LA57', 'kentry-generated:/generated/cpufeatures.h', /^#define X86_FEATURE_LA57 \(\d+\*32\+\d+\)$/],
      ['CONFIG_X86_5LEVEL', 'kentry-generated:/generated/autoconf.h', /^#define CONFIG_X86_5LEVEL 1$/],
    ] as const) {
      const loc = await definition(needle, 1);
      assert.strictEqual(loc?.uri, uri, needle);
      const served = await header(uri);
      assert.match(served?.text.split('\n')[loc.range.start.line] ?? '', re, needle);
    }
  });

  it('answers null for a header kentry does not generate, a path escaping the directory and a file: URI', async () => {
    assert.strictEqual(await header('kentry-generated:/generated/nope.h'), null);
    assert.strictEqual(await header('kentry-generated:/../etc/passwd'), null);
    assert.strictEqual(await header(uriOf(seedS)), null);
    assert.strictEqual(await lsp.connection.sendRequest(GENERATED_HEADER_REQUEST, { uri: 42 }), null, 'bad params are no crash');
    assert.ok(await header(ASM_OFFSETS), 'and the server still answers');
  });

  it('maps virtual paths and URIs both ways, also with an empty authority', () => {
    assert.strictEqual(generatedUriOf('/kentry-generated/generated/asm-offsets.h'), ASM_OFFSETS);
    assert.strictEqual(generatedPathOf(ASM_OFFSETS), '/kentry-generated/generated/asm-offsets.h');
    assert.strictEqual(generatedPathOf('kentry-generated:///generated/asm-offsets.h'), '/kentry-generated/generated/asm-offsets.h');
    assert.strictEqual(generatedPathOf('file:///generated/asm-offsets.h'), undefined);
  });

  describe('and the debugger, for the same kernel settings', function () {
    const dap = new Dap();
    before(async () => {
      buildAdapter();
      await dap.start();
    });
    after(() => dap.stop());

    it('serves the same text for the generated headers as the definition shows', async () => {
      const swapgs = text.split('\n').findIndex((l) => l.trim() === 'swapgs') + 1;
      const stop = await dap.launch({ kernelEntry: seedS, kernel: { config } }, { breakpoints: [{ file: seedS, lines: [swapgs] }] });
      assert.notStrictEqual(stop, 'terminated', dap.output.join(''));
      for (const name of ['asm-offsets.h', 'autoconf.h', 'cpufeatures.h']) {
        const file = `/kentry-generated/generated/${name}`;
        const fromDebugger = await dap.dc.sourceRequest({ source: { path: file }, sourceReference: 0 });
        const fromServer = await header(generatedUriOf(file));
        assert.strictEqual(fromServer?.text, fromDebugger.body.content, name);
      }
    });
  });
});
