/**
 * Hover on the real Linux 6.1 entry_64.S through the language server over stdio (node
 * dist/languageServer.js --stdio, as vscode-languageclient starts it): the first hover (which
 * assembles the file) and p50/p99 of hovers on names all over the file.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { pathToFileURL } from 'url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { add, percentile, skipped } from './report';
import { DIST, REAL_61, REPO, SAMPLES, hasReal61 } from './paths';

/** Positions of names on code lines (not comments), spread over the file. */
function hoverPositions(text: string, count: number): { line: number; character: number }[] {
  const out: { line: number; character: number }[] = [];
  text.split('\n').forEach((l, line) => {
    const code = l.replace(/\/\*.*|\/\/.*|#.*$/, '');
    if (!code.trim()) return;
    for (const m of code.matchAll(/%?[A-Za-z_][\w.]*/g)) out.push({ line, character: (m.index ?? 0) + 1 });
  });
  const step = Math.max(1, Math.floor(out.length / count));
  return out.filter((_, i) => i % step === 0).slice(0, count);
}

export async function benchHover(): Promise<void> {
  if (!hasReal61()) return skipped('hover on the real Linux 6.1 entry_64.S', 'no prepared tree under .cache/linux');
  const proc = spawn(process.execPath, [path.join(DIST, 'languageServer.js'), '--stdio'], { cwd: REPO, stdio: ['pipe', 'pipe', 'ignore'] });
  const conn = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  conn.listen();
  try {
    await conn.sendRequest('initialize', { processId: process.pid, rootUri: pathToFileURL(REPO).href, capabilities: {}, initializationOptions: { kernel: { samplesDir: SAMPLES } } });
    await conn.sendNotification('initialized', {});
    const text = fs.readFileSync(REAL_61, 'utf8');
    const uri = pathToFileURL(REAL_61).href;
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'kentry-asm', version: 1, text } });
    const positions = hoverPositions(text, 300);
    const hover = async (p: { line: number; character: number }): Promise<number> => {
      const t0 = performance.now();
      await conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: p });
      return performance.now() - t0;
    };
    const cold = await hover(positions[Math.floor(positions.length / 2)]);
    const times: number[] = [];
    let answered = 0;
    for (const p of positions) {
      const t0 = performance.now();
      const r = await conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: p });
      times.push(performance.now() - t0);
      if (r) answered++;
    }
    add({ name: 'hover, real 6.1 entry_64.S (LSP over stdio): first hover', value: cold, unit: 'ms', note: 'includes assembling the file for expansions' });
    add({ name: 'hover, real 6.1 entry_64.S (LSP over stdio): p50', value: percentile(times, 50), unit: 'ms', note: `${times.length} hovers on names across the file, ${answered} with content` });
    add({ name: 'hover, real 6.1 entry_64.S (LSP over stdio): p99', value: percentile(times, 99), unit: 'ms', note: '' });
  } finally {
    conn.dispose();
    proc.kill();
  }
}
