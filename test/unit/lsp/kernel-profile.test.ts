/**
 * The server building documents the way the debugger does: the seed with the 5.8 profile's
 * generated headers and kentry's samples/include, over a real JSON-RPC connection.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { INACTIVE_REGIONS_NOTIFICATION, type InactiveRegionsParams } from '../../../language-server/protocol';
import { positionOf, repoRoot, seedDir, startServer, uriOf, type LspSession } from './lsp-client';

const seedS = path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.S');
const samplesDir = path.join(repoRoot, 'samples');

describe('kentry-asm language server with the kernel profile', function () {
  let lsp: LspSession;
  const text = fs.readFileSync(seedS, 'utf8');
  const lines = text.split('\n');

  before(async () => {
    lsp = await startServer({ kernel: { samplesDir, config: { X86_5LEVEL: true } }, diagnosticsDelayMs: 0 });
    await lsp.openAssembled(seedS, text);
  });
  after(async () => lsp?.close());

  it('hover on a per-CPU variable gives its %gs offset from the profile', async () => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'cpu_tss_rw + TSS_sp2)', 2) })) as { contents: { value: string } };
    assert.match(h.contents.value, /\*\*cpu_tss_rw\*\* = `%gs:0x2000`/);
  });

  it('hover shows the line after the preprocessor: selectors and asm-offsets substituted', async () => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'cmpq	$__USER_CS, CS(%rsp)', 1) })) as { contents: { value: string } };
    assert.match(h.contents.value, /\*\*After the preprocessor:\*\*\n\n```asm\ncmpq \$\(6 \* 8 \+ 3\), 136\(%rsp\)\n```/);
  });

  it('assembles the seed without diagnostics, and hover on a .macro call lists its expansion', async () => {
    const p = await lsp.waitFor<{ uri: string; diagnostics: unknown[] }>('textDocument/publishDiagnostics', (x) => x.uri === uriOf(seedS));
    assert.deepStrictEqual(p.diagnostics, []);
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'SWITCH_TO_KERNEL_CR3', 1) })) as { contents: { value: string } };
    assert.match(h.contents.value, /\*\*Expands to\*\* \(SWITCH_TO_KERNEL_CR3, \d+ statements\)/);
    assert.match(h.contents.value, /\tmov %cr3, %rsp\n[^]*\tmov %rsp, %cr3\n/);
  });

  it('hover on the continuation line of ALTERNATIVE shows the in-place code first, then the replacement', async () => {
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, '"shl $(64 - 57)', 2) })) as { contents: { value: string } };
    assert.match(h.contents.value, /\*\*Expands to\*\* \(ALTERNATIVE, \d+ statements\):\n\n```asm\n\tshl \$\(64 - 48\), %rcx\n\tsar \$\(64 - 48\), %rcx\n# in \.altinstr_replacement:\n\tshl \$\(64 - 57\), %rcx/);
  });

  it('goes from the seed\'s jne to swapgs_restore_regs_and_return_to_usermode in the bundled return path', async () => {
    const loc = (await lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'swapgs_restore_regs_and_return_to_usermode', 5) })) as { uri: string; range: { start: { line: number } } };
    assert.strictEqual(loc?.uri, uriOf(path.join(samplesDir, 'kernel/return-to-usermode.S')));
    const file = fs.readFileSync(path.join(samplesDir, 'kernel/return-to-usermode.S'), 'utf8').split('\n');
    assert.match(file[loc.range.start.line], /swapgs_restore_regs_and_return_to_usermode/);
  });

  it('goes to kentry\'s own PUSH_AND_CLEAR_REGS macro in samples/include', async () => {
    const loc = (await lsp.connection.sendRequest('textDocument/definition', { textDocument: { uri: uriOf(seedS) }, position: positionOf(text, 'PUSH_AND_CLEAR_REGS', 3) })) as { uri: string; range: { start: { line: number } } };
    assert.ok(loc, 'a definition is found through the prelude the seed is built with');
    const file = fs.readFileSync(new URL(loc.uri), 'utf8').split('\n');
    assert.match(file[loc.range.start.line], /^\s*\.macro\s+PUSH_AND_CLEAR_REGS\b/);
  });

  it('with CONFIG_X86_5LEVEL chosen, the 4-level branch is the inactive one', async () => {
    const p = await lsp.waitFor<InactiveRegionsParams>(INACTIVE_REGIONS_NOTIFICATION, (x) => x.uri === uriOf(seedS));
    const els = lines.findIndex((l) => l.startsWith('#else'));
    const endif = lines.findIndex((l) => l.startsWith('#endif'));
    assert.deepStrictEqual(p.regions, [{ startLine: els + 1, endLine: endif - 1 }]);
  });
});
