/**
 * The server keeps what hovers look up (include closures, each header's #defines, disk reads)
 * between hovers; what a user notices is that a hover still shows the current value after the
 * header is edited in the editor, closed again, changed on disk, or the #include line changes.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { positionOf, startServer, uriOf, type LspSession } from './lsp-client';

type Hover = { contents: { value: string } } | null;

describe('kentry-asm language server: hovers follow header changes', function () {
  let lsp: LspSession;
  let dir: string;
  let main: string;
  let header: string;
  let other: string;
  let text: string;

  const valueShown = async (): Promise<string | undefined> => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(main) }, position: positionOf(text, 'SLOT_OFFSET(%rsp)', 2) })) as Hover;
    return /= `(\d+)`/.exec(h?.contents.value ?? '')?.[1];
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-lsp-cache-'));
    header = path.join(dir, 'values.h');
    other = path.join(dir, 'other.h');
    main = path.join(dir, 'main.S');
    fs.writeFileSync(header, '#define SLOT_OFFSET 8\n');
    fs.writeFileSync(other, '#define SLOT_OFFSET 40\n');
    text = '#include "values.h"\n\tmovq\tSLOT_OFFSET(%rsp), %rax\n';
    fs.writeFileSync(main, text);
    lsp = await startServer({ diagnosticsDelayMs: 0 }, { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } } });
    await lsp.openAssembled(main, text);
  });
  after(async () => {
    await lsp?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the header\'s value from disk', async () => {
    assert.strictEqual(await valueShown(), '8');
  });

  it('the header opened with unsaved text, then edited: each hover has the editor\'s value', async () => {
    await lsp.open(header, '#define SLOT_OFFSET 16\n');
    assert.strictEqual(await valueShown(), '16');
    await lsp.connection.sendNotification('textDocument/didChange', { textDocument: { uri: uriOf(header), version: 2 }, contentChanges: [{ text: '#define SLOT_OFFSET 24\n' }] });
    assert.strictEqual(await valueShown(), '24');
  });

  it('closed without saving: the value on disk again', async () => {
    await lsp.connection.sendNotification('textDocument/didClose', { textDocument: { uri: uriOf(header) } });
    assert.strictEqual(await valueShown(), '8');
  });

  it('the server asks the client to watch .S/.s/.h files (it keeps what it read from disk)', () => {
    const reg = lsp.seen.find((n) => n.method === 'client/registerCapability');
    const watchers = (reg?.params as { registrations: Array<{ method: string; registerOptions: { watchers: Array<{ globPattern: string }> } }> } | undefined)?.registrations;
    assert.deepStrictEqual(watchers?.map((r) => [r.method, r.registerOptions.watchers.map((w) => w.globPattern)]), [['workspace/didChangeWatchedFiles', ['**/*.{S,s,h}']]]);
  });

  it('changed on disk: the value after the client reports the file change', async () => {
    fs.writeFileSync(header, '#define SLOT_OFFSET 32\n');
    await lsp.connection.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: uriOf(header), type: 2 }] });
    assert.strictEqual(await valueShown(), '32');
  });

  it('the #include line edited to another header: that header\'s value', async () => {
    text = text.replace('"values.h"', '"other.h"');
    await lsp.connection.sendNotification('textDocument/didChange', { textDocument: { uri: uriOf(main), version: 2 }, contentChanges: [{ text }] });
    assert.strictEqual(await valueShown(), '40');
  });
});
