/**
 * Hover at an ALTERNATIVE use (or a macro that expands to one, SWITCH_TO_KERNEL_CR3) says which
 * code a booted kernel runs there and why, for the CPU in `kentry.cpu`: the kernel side's
 * bootFeatures() + applyAlternatives(), as the debugger's boot decides it.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { serverOptionsFor } from '../../../extension/language/serverOptions';
import { positionOf, repoRoot, startServer, uriOf, type LspSession } from './lsp-client';

const samplesDir = path.join(repoRoot, 'samples');
const sample = path.join(samplesDir, 'entry_64.S');
const real61 = path.join(repoRoot, '.cache/linux/linux-source-6.1/arch/x86/entry/entry_64.S');

async function hoverWith(cpu: string | undefined, file: string, needle: string, offset = 1): Promise<string> {
  const options = serverOptionsFor(cpu ? { cpu } : {}, samplesDir);
  const lsp: LspSession = await startServer({ ...options, diagnosticsDelayMs: 0 });
  try {
    const text = fs.readFileSync(file, 'utf8');
    await lsp.openAssembled(file, text);
    const h = (await lsp.connection.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(file) }, position: positionOf(text, needle, offset) })) as { contents: { value: string } } | null;
    return h?.contents.value ?? '';
  } finally {
    await lsp.close();
  }
}

describe('kentry-asm language server: which alternative a booted kernel runs', function () {
  it('kentry.cpu is passed to the server; the default (unset) is the intel profile', () => {
    assert.strictEqual(serverOptionsFor({ cpu: 'amd' }, samplesDir).kernel?.cpu, 'amd');
    assert.strictEqual(serverOptionsFor({ cpu: 7 }, samplesDir).kernel?.cpu, undefined);
  });

  it('sample, intel (default): SWITCH_TO_KERNEL_CR3 has the PTI and PCID replacements patched in, with the reason', async () => {
    const h = await hoverWith(undefined, sample, 'SWITCH_TO_KERNEL_CR3 scratch');
    assert.match(h, /\*\*At boot on the intel CPU\*\*/);
    assert.match(h, /`X86_FEATURE_PTI`: the replacement is patched in\. .*PAGE_TABLE_ISOLATION=y and this Intel CPU is vulnerable to Meltdown/);
    assert.match(h, /`X86_FEATURE_PCID`: the replacement is patched in\. .*reports PCID/);
  });

  it('sample, amd: the original code stays, because AMD is not affected by Meltdown', async () => {
    const h = await hoverWith('amd', sample, 'SWITCH_TO_KERNEL_CR3 scratch');
    assert.match(h, /\*\*At boot on the amd CPU\*\*/);
    assert.match(h, /`X86_FEATURE_PTI`: the original code stays\. .*AMD CPUs are not affected by Meltdown/);
  });

  (fs.existsSync(real61) ? describe : describe.skip)('on the real Linux 6.1 entry_64.S', () => {
    it('intel: SWITCH_TO_KERNEL_CR3 runs the PTI replacement', async () => {
      const h = await hoverWith('intel', real61, 'SWITCH_TO_KERNEL_CR3 scratch');
      assert.match(h, /`X86_FEATURE_PTI`: the replacement is patched in/);
    });

    it('the LA57 ALTERNATIVE: original on intel (no 5-level paging), replacement on intel-la57 (the tree has X86_5LEVEL=y)', async () => {
      const four = await hoverWith('intel', real61, '"shl $(64 - 57)', 2);
      assert.match(four, /`X86_FEATURE_LA57`: the original code stays\. .*no 5-level paging/);
      const five = await hoverWith('intel-la57', real61, '"shl $(64 - 57)', 2);
      assert.match(five, /`X86_FEATURE_LA57`: the replacement is patched in\. .*CR4\.LA57/);
    });
  });
});
