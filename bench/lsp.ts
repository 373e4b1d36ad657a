/**
 * Hover on the real Linux 6.1 entry_64.S through the language server over stdio (node
 * dist/languageServer.js --stdio, as vscode-languageclient starts it): the first hover right
 * after didOpen, when the expansions are ready (the diagnostics are published), and p50/p99 of
 * hovers on names all over the file, sent right after the first one (so partly while the file
 * assembles) and again once it is assembled.
 *
 * KENTRY_LSP_BASELINE=/path/to/an/older/languageServer.js measures that build too, in the same
 * run and on the same positions, for a side-by-side before/after.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { pathToFileURL } from 'url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { add, percentile, skipped } from './report';
import { DIST, REAL_61, REPO, SAMPLES, hasReal61 } from './paths';

type Position = { line: number; character: number };

function positionOf(text: string, needle: string, offset: number): Position {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  return { line, character: lines[line].indexOf(needle) + offset };
}

/** Positions of names on code lines (not comments), spread over the file. */
function hoverPositions(text: string, count: number): Position[] {
  const out: Position[] = [];
  text.split('\n').forEach((l, line) => {
    const code = l.replace(/\/\*.*|\/\/.*|#.*$/, '');
    if (!code.trim()) return;
    for (const m of code.matchAll(/%?[A-Za-z_][\w.]*/g)) out.push({ line, character: (m.index ?? 0) + 1 });
  });
  const step = Math.max(1, Math.floor(out.length / count));
  return out.filter((_, i) => i % step === 0).slice(0, count);
}

interface HoverRun {
  first: number;
  firstWaited: boolean;
  ready: number;
  during: number[];
  after: number[];
  /** A hover right after each of a series of one-character edits (typing). */
  edits: number[];
  answered: number;
}

const EDITS = 20;

async function measure(serverScript: string, text: string, positions: Position[]): Promise<HoverRun> {
  const proc = spawn(process.execPath, [serverScript, '--stdio'], { cwd: REPO, stdio: ['pipe', 'pipe', 'ignore'] });
  const conn = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  const uri = pathToFileURL(REAL_61).href;
  let published: number | undefined;
  const assembled = new Promise<void>((resolve) => {
    conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string }) => {
      if (p.uri !== uri || published !== undefined) return;
      published = performance.now();
      resolve();
    });
  });
  conn.listen();
  try {
    await conn.sendRequest('initialize', { processId: process.pid, rootUri: pathToFileURL(REPO).href, capabilities: {}, initializationOptions: { kernel: { samplesDir: SAMPLES } } });
    await conn.sendNotification('initialized', {});
    const hover = async (p: Position): Promise<{ ms: number; md: string }> => {
      const t0 = performance.now();
      const r = (await conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: p })) as { contents: { value: string } } | null;
      return { ms: performance.now() - t0, md: r?.contents.value ?? '' };
    };
    const opened = performance.now();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'kentry-asm', version: 1, text } });
    const cold = await hover(positions[Math.floor(positions.length / 2)]);
    const during: number[] = [];
    let answered = 0;
    for (const p of positions) {
      const h = await hover(p);
      during.push(h.ms);
      if (h.md) answered++;
    }
    await assembled;
    const after: number[] = [];
    for (const p of positions) after.push((await hover(p)).ms);
    // Typing a comment line above a name, hovering the name after each character.
    const target = positionOf(text, 'TASK_threadsp(%rdi)', 3);
    const edits: number[] = [];
    for (let v = 2; v < 2 + EDITS; v++) {
      const at = { line: target.line - 1, character: 0 };
      await conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ range: { start: at, end: at }, text: ' ' }] });
      edits.push((await hover(target)).ms);
    }
    return { first: cold.ms, firstWaited: !cold.md.includes('(assembling'), ready: (published ?? NaN) - opened, during, after, edits, answered };
  } finally {
    conn.dispose();
    proc.kill();
  }
}

function report(label: string, r: HoverRun, count: number): void {
  const name = (what: string): string => `hover, real 6.1 entry_64.S (LSP over stdio)${label}: ${what}`;
  add({ name: name('first hover after didOpen'), value: r.first, unit: 'ms', note: r.firstWaited ? 'waited for the assembly' : 'answered without the assembly, "(assembling…)" for the rest' });
  add({ name: name('expansions ready after didOpen'), value: r.ready, unit: 'ms', note: 'until the diagnostics are published' });
  add({ name: name('p50'), value: percentile(r.during, 50), unit: 'ms', note: `${count} hovers on names across the file right after the first, ${r.answered} with content` });
  add({ name: name('p99'), value: percentile(r.during, 99), unit: 'ms', note: '' });
  add({ name: name('p99 once assembled'), value: percentile(r.after, 99), unit: 'ms', note: `the same ${count} hovers again` });
  add({ name: name('hover right after an edit, p50'), value: percentile(r.edits, 50), unit: 'ms', note: `${EDITS} one-character edits, a hover after each` });
  add({ name: name('hover right after an edit, max'), value: Math.max(...r.edits), unit: 'ms', note: '' });
}

export async function benchHover(): Promise<void> {
  if (!hasReal61()) return skipped('hover on the real Linux 6.1 entry_64.S', 'no prepared tree under .cache/linux');
  const text = fs.readFileSync(REAL_61, 'utf8');
  const positions = hoverPositions(text, 300);
  const baseline = process.env.KENTRY_LSP_BASELINE;
  if (baseline) report(` [baseline ${path.basename(path.dirname(path.dirname(baseline)))}]`, await measure(baseline, text, positions), positions.length);
  report('', await measure(path.join(DIST, 'languageServer.js'), text, positions), positions.length);
}
