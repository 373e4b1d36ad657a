/**
 * Fuzzing the language server as VS Code drives it: the bundled `node dist/languageServer.js
 * --stdio` (stdio framing, worker thread and all) gets random sequences of didOpen / didChange
 * (full texts: mutated sample, seed and real 6.1 sources; incremental edits at random, also
 * out-of-range, ranges; include cycles between two open headers; unterminated .macro/#if; huge
 * lines), didClose, didChangeConfiguration and watched-file events with odd values, interleaved
 * with hover / definition / documentSymbol / kentry/generatedHeader at random positions.
 * After each sequence: the process is alive, every request was answered (a result, or an LSP
 * error that is not a crashed handler), no feature failed in a guarded() catch, every open document
 * got diagnostics for its last version and each names a line of it, and a hover on a comment line
 * of the sample still shows the comment (the session keeps working).
 */
import { strict as assert } from 'assert';
import { execFileSync, spawn, type ChildProcess } from 'child_process';
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { REPO, SAMPLES, SEED_DIR } from '../support/paths';
import { fuzzParams, mutateLines, suiteTimeout, type LineMutation } from './support';

const uriOf = (p: string): string => pathToFileURL(p).href;
const SAMPLE = path.join(SAMPLES, 'entry_64.S');
const REAL_61 = path.join(REPO, '.cache/linux/linux-source-6.1/arch/x86/entry/entry_64.S');
const SEEDS = fs.existsSync(SEED_DIR) ? fs.readdirSync(SEED_DIR).filter((f) => f.endsWith('.S')).map((f) => path.join(SEED_DIR, f)) : [];
/** Two headers that include each other, and a file including them: they exist only as open buffers. */
const MEM_DIR = '/kentry-lsp-fuzz';
const HEADER_A = `${MEM_DIR}/a.h`;
const HEADER_B = `${MEM_DIR}/b.h`;
const MEM_MAIN = `${MEM_DIR}/main.S`;

/** Sources a full-text change or an open takes its text from (read at test time, never copied into the repo). */
const SOURCES: Record<string, string> = {
  sample: fs.readFileSync(SAMPLE, 'utf8'),
  ...Object.fromEntries(SEEDS.map((s) => [path.basename(s), fs.readFileSync(s, 'utf8')])),
  ...(fs.existsSync(REAL_61) ? { real61: fs.readFileSync(REAL_61, 'utf8') } : {}),
  cycleA: '#include "b.h"\n.include "b.h"\n#define A_VALUE 1\n',
  cycleB: '#include "a.h"\n.include "a.h"\n#define B_VALUE A_VALUE\n',
  cycleMain: '#include "a.h"\n.include "b.h"\n\tmovq $A_VALUE, %rax\n/* comment */\n\tswapgs\n',
  macroOpen: '.macro M a\n\tmovq \\a, %rax\n.rept 3\n\tnop\n#if 1\n#ifdef X\n\tswapgs\n',
  huge: `\tmovq ${'%rax,'.repeat(20_000)}\n/* ${'x'.repeat(200_000)}\n${'#define L '.repeat(5000)}\n`,
};
/** Documents the client opens: real paths (the buffer wins over the disk) and in-memory ones. */
const DOCS = [SAMPLE, HEADER_A, HEADER_B, MEM_MAIN, ...SEEDS, ...(fs.existsSync(REAL_61) ? [REAL_61] : [])];

const SNIPPETS = [
  '.macro M a b=1', '.endm', '.rept 100000', '.endr', '.irp r, rax, rbx', '.if 1', '.else', '.endif', '#if 1', '#if defined(X) &&', '#ifdef A',
  '#else', '#endif', '#define A B B', '#define B A A', '#define F(x) F(x) x##x', '#include "a.h"', '#include "b.h"', '.include "a.h"',
  '#include <kentry/calling.h>', '#include "missing.h"', '#include', '#error stop', '.fill 1000000000, 8, 0', '.org 0x7fffffff', '.space 0x10000000',
  'ALTERNATIVE "nop", "ud2", X86_FEATURE_PTI', 'SYM_CODE_START(f)', 'SYM_CODE_END(f)', 'PUSH_AND_CLEAR_REGS', 'POP_REGS', 'swapgs', 'sysretq',
  'movq %rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', 'SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp', 'jmp 1f', '1:', 'label:', '/* open comment', '*/',
  '// c++', '# 1 "x.h"', '"', '\\', '\u0000\u00ff', '\r\n', '\r', '\n\n\n', '\t', 'é😀', '__proto__', 'constructor:', 'MSR_GS_BASE', '$__USER_DS', 'TSS_sp2',
];
const junkText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SNIPPETS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(100_000), `${'('.repeat(5000)}1${')'.repeat(5000)}`, '#if '.repeat(3000)) },
);

const mutation: fc.Arbitrary<LineMutation> = fc.record({ op: fc.constantFrom('delete', 'duplicate', 'insert', 'truncate', 'junk'), a: fc.nat(), b: fc.nat({ max: 40 }), text: junkText });

const junkValue = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.string({ maxLength: 12 }), fc.constant({}), fc.constant([]), fc.double(), fc.boolean(), fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 3 }));
/** A line or character: mostly in range, sometimes past the end, negative, fractional or absurd. */
const coord = fc.oneof({ weight: 8, arbitrary: fc.nat(400) }, { weight: 2, arbitrary: fc.nat(3000) }, { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1.5, -0.5) });
const position = fc.record({ line: coord, character: coord });
/**
 * Edits get whole numbers only: vscode-languageserver-textdocument's incremental update keeps a
 * wrong line table after a fractional line (1.5), which VS Code never sends (LSP positions are uintegers).
 */
const editCoord = fc.oneof({ weight: 8, arbitrary: fc.nat(400) }, { weight: 2, arbitrary: fc.nat(3000) }, { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 31, 2 ** 53) });
const editPosition = fc.record({ line: editCoord, character: editCoord });
/** >= 0: the n-th open document (most operations act on what is open); < 0: any document, open or not. */
const docIndex = fc.oneof({ weight: 4, arbitrary: fc.nat(20) }, { weight: 1, arbitrary: fc.integer({ min: -DOCS.length, max: -1 }) });

const settings = fc.oneof(
  fc.record({
    kentry: fc.oneof(
      { weight: 4, arbitrary: fc.record({
        annotationNotes: fc.oneof(junkValue, fc.constant(SEEDS.map((s) => s.replace(/\.S$/, '.md')))),
        languageServer: fc.oneof(junkValue, fc.record({
          includeDirs: fc.oneof(junkValue, fc.constant([path.join(SAMPLES, 'include'), MEM_DIR])),
          defines: fc.oneof(junkValue, fc.dictionary(fc.constantFrom('X', 'A', '__proto__', 'CONFIG_X86_5LEVEL'), junkValue)),
          preIncludes: fc.oneof(junkValue, fc.constant([HEADER_A, '/nonexistent.h'])),
          values: fc.oneof(junkValue, fc.dictionary(fc.constantFrom('TSS_sp2', 'swapgs', '__proto__'), junkValue)),
          kernel: fc.oneof(junkValue, fc.record({ samplesDir: fc.oneof(fc.constant(SAMPLES), junkValue), version: fc.oneof(fc.constantFrom('5.8', '6.1', '9.9'), junkValue), config: fc.oneof(junkValue, fc.dictionary(fc.constantFrom('X86_5LEVEL', 'PAGE_TABLE_ISOLATION', '__proto__'), junkValue)), cpu: fc.oneof(fc.constantFrom('intel', 'amd', 'bogus'), junkValue) }, { requiredKeys: [] })),
          diagnosticsDelayMs: fc.oneof(fc.constantFrom(0, 5, -1, 1.5), junkValue),
        }, { requiredKeys: [] })),
      }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: junkValue },
    ),
  }, { requiredKeys: [] }),
  junkValue,
);

type Op =
  | { kind: 'open'; doc: number; source: string; mutations: LineMutation[] }
  | { kind: 'full'; doc: number; source: string; mutations: LineMutation[] }
  | { kind: 'edit'; doc: number; start: { line: number; character: number }; end: { line: number; character: number }; text: string }
  | { kind: 'close'; doc: number }
  | { kind: 'config'; settings: unknown }
  | { kind: 'watched' }
  | { kind: 'request'; method: string; doc: number; position: { line: number; character: number } };

const sourceName = fc.constantFrom(...Object.keys(SOURCES));
const openOp = fc.record({ kind: fc.constant('open' as const), doc: fc.integer({ min: -DOCS.length, max: -1 }), source: sourceName, mutations: fc.array(mutation, { maxLength: 4 }) });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: openOp },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('full' as const), doc: docIndex, source: sourceName, mutations: fc.array(mutation, { maxLength: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('edit' as const), doc: docIndex, start: editPosition, end: editPosition, text: junkText }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), doc: docIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('config' as const), settings }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'watched' as const }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('request' as const), method: fc.constantFrom('textDocument/hover', 'textDocument/hover', 'textDocument/definition', 'textDocument/documentSymbol', 'kentry/generatedHeader'), doc: docIndex, position }) },
);

/** What the extension sends: the kernel profile's build and the seed's note (extension/language/serverOptions.ts). */
const SANE_OPTIONS = {
  annotationNotes: SEEDS.map((s) => s.replace(/\.S$/, '.md')).filter((p) => fs.existsSync(p)),
  kernel: { samplesDir: SAMPLES },
  diagnosticsDelayMs: 5,
};

interface Published { uri: string; version?: number; diagnostics: Array<{ range: { start: { line: number } }; message: string; relatedInformation?: Array<{ location: { uri: string; range: { start: { line: number } } } }> }> }

class FuzzClient {
  readonly proc: ChildProcess;
  readonly connection: MessageConnection;
  readonly stderr: string[] = [];
  /** window/logMessage errors: a guarded() catch in the server, i.e. a feature that failed. */
  readonly logged: string[] = [];
  readonly published: Published[] = [];
  readonly transcript: string[] = [];
  private waiters: Array<() => void> = [];
  /** Resolves when the server process ends, whatever the reason. */
  readonly exited: Promise<string>;

  constructor() {
    this.proc = spawn(process.execPath, [path.join(REPO, 'dist/languageServer.js'), '--stdio'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve(`SERVER EXITED (${code ?? signal})`)));
    this.connection = createMessageConnection(new StreamMessageReader(this.proc.stdout!), new StreamMessageWriter(this.proc.stdin!));
    this.connection.onNotification((method: string, params: unknown) => {
      if (method === 'window/logMessage') {
        const p = params as { type: number; message: string };
        if (p.type === 1) this.logged.push(p.message);
      }
      if (method === 'textDocument/publishDiagnostics') this.published.push(params as Published);
      for (const w of this.waiters.splice(0)) w();
    });
    this.connection.onRequest(() => null);
    this.connection.onError(() => undefined);
    this.connection.listen();
  }

  /** Resolves when `pred` holds on what has arrived, or false after ms. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred() && this.alive()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return true;
  }

  /** The request's answer: 'ok', 'error <code>: message', or 'NO RESPONSE' after ms. */
  async ask(method: string, params: unknown, ms = 20_000): Promise<{ outcome: string; result?: unknown }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ outcome: string }>((resolve) => { timer = setTimeout(() => resolve({ outcome: 'NO RESPONSE' }), ms); });
    const answer = this.connection.sendRequest(method, params).then(
      (result) => ({ outcome: 'ok', result }),
      (e: { code?: number; message?: string }) => ({ outcome: `error ${e.code}: ${e.message}` }),
    );
    const r = await Promise.race([answer, timeout, this.exited.then((outcome) => ({ outcome }))]);
    clearTimeout(timer);
    this.log(`${method} ${JSON.stringify(params)?.slice(0, 160)} -> ${r.outcome.slice(0, 200)}`);
    return r;
  }

  notify(method: string, params: unknown): void {
    this.log(`${method} ${JSON.stringify(params)?.slice(0, 160)}`);
    void this.connection.sendNotification(method, params);
  }

  private log(line: string): void {
    this.transcript.push(line);
    if (process.env.KENTRY_FUZZ_DEBUG) console.error(line);
  }

  alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  dispose(): void {
    this.connection.dispose();
    this.proc.kill();
  }
}

/** The comment above `swapgs` in the sample: what the final hover must still show. */
const SWAPGS_LINE = SOURCES.sample.split('\n').findIndex((l) => l.trim() === 'swapgs');
const SWAPGS_COMMENT = /Exchange GS_BASE \(the user's\) with KERNEL_GS_BASE/;

async function sequence(ops: readonly Op[]): Promise<void> {
  const client = new FuzzClient();
  /** The client's view of each open document: its text and version. */
  const open = new Map<string, { text: string; version: number }>();
  const fail = (why: string): never => assert.fail(`${why}\n--- transcript\n${client.transcript.join('\n')}\n--- server stderr\n${client.stderr.join('').slice(-3000)}`);
  const expectAnswer = (method: string, r: { outcome: string }): void => {
    if (r.outcome === 'NO RESPONSE' || r.outcome.startsWith('SERVER EXITED')) fail(`no response to ${method}: ${r.outcome}`);
    // -32603 InternalError is what vscode-languageserver answers when a handler throws: a crash, not a refusal.
    if (r.outcome.startsWith('error -32603')) fail(`${method} crashed in the server: ${r.outcome}`);
  };
  try {
    const init = await client.ask('initialize', { processId: process.pid, rootUri: uriOf(REPO), capabilities: { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } } }, initializationOptions: SANE_OPTIONS });
    expectAnswer('initialize', init);
    client.notify('initialized', {});
    for (const o of ops) {
      const openFiles = [...open.keys()];
      const pick = (n: number): string => (n < 0 ? uriOf(DOCS[-n - 1]) : openFiles.length ? openFiles[n % openFiles.length] : uriOf(DOCS[n % DOCS.length]));
      const uri = 'doc' in o ? pick(o.doc) : '';
      switch (o.kind) {
        case 'open': {
          const text = mutateLines(SOURCES[o.source], o.mutations);
          const version = (open.get(uri)?.version ?? 0) + 1;
          open.set(uri, { text, version });
          client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'kentry-asm', version, text } });
          break;
        }
        case 'full': {
          const doc = open.get(uri);
          const text = mutateLines(SOURCES[o.source], o.mutations);
          if (doc) Object.assign(doc, { text, version: doc.version + 1 });
          client.notify('textDocument/didChange', { textDocument: { uri, version: (doc?.version ?? 1) }, contentChanges: [{ text }] });
          break;
        }
        case 'edit': {
          const doc = open.get(uri);
          if (doc) {
            doc.version++;
            // The server's own document model, so both sides agree on out-of-range and odd positions.
            doc.text = TextDocument.applyEdits(TextDocument.create(uri, 'kentry-asm', doc.version, doc.text), [{ range: { start: o.start, end: o.end }, newText: o.text }]);
          }
          client.notify('textDocument/didChange', { textDocument: { uri, version: doc?.version ?? 1 }, contentChanges: [{ range: { start: o.start, end: o.end }, text: o.text }] });
          break;
        }
        case 'close':
          open.delete(uri);
          client.notify('textDocument/didClose', { textDocument: { uri } });
          break;
        case 'config':
          client.notify('workspace/didChangeConfiguration', { settings: o.settings });
          break;
        case 'watched':
          client.notify('workspace/didChangeWatchedFiles', { changes: [{ uri: uriOf(HEADER_A), type: 2 }] });
          break;
        case 'request': {
          const params = o.method === 'kentry/generatedHeader'
            ? { uri: ['kentry-generated:/generated/asm-offsets.h', 'kentry-generated:/nope', uri, 'kentry-generated:/kentry-tree/x'][o.doc % 4] }
            : { textDocument: { uri }, position: o.position };
          expectAnswer(o.method, await client.ask(o.method, params));
          break;
        }
      }
    }
    // The user fixes the settings: every open document is assembled again with them.
    client.notify('workspace/didChangeConfiguration', { settings: { kentry: { annotationNotes: SANE_OPTIONS.annotationNotes, languageServer: SANE_OPTIONS } } });
    expectAnswer('textDocument/documentSymbol', await client.ask('textDocument/documentSymbol', { textDocument: { uri: uriOf(SAMPLE) } }));
    for (const [uri, doc] of open) {
      const got = await client.until(() => client.published.some((p) => p.uri === uri && p.version === doc.version), 30_000);
      if (!got) fail(!client.alive() ? 'the server process died' : `no diagnostics for ${uri} version ${doc.version}`);
      const lines = doc.text.split(/\r\n|\r|\n/).length;
      for (const p of client.published.filter((x) => x.uri === uri && x.version === doc.version)) {
        for (const d of p.diagnostics) {
          if (!(d.message.length > 0)) fail(`a diagnostic without a message in ${uri}`);
          if (!(d.range.start.line >= 0 && d.range.start.line < lines)) fail(`diagnostic "${d.message}" at line ${d.range.start.line} of ${uri}, which has ${lines} lines`);
          for (const r of d.relatedInformation ?? []) if (!(r.location.range.start.line >= 0) || !r.location.uri) fail(`diagnostic "${d.message}" points at ${JSON.stringify(r.location)}`);
        }
      }
    }
    // The session keeps working: the sample, as shipped, hovers with its comment.
    const sampleUri = uriOf(SAMPLE);
    const sample = open.get(sampleUri);
    if (sample) client.notify('textDocument/didChange', { textDocument: { uri: sampleUri, version: ++sample.version }, contentChanges: [{ text: SOURCES.sample }] });
    else client.notify('textDocument/didOpen', { textDocument: { uri: sampleUri, languageId: 'kentry-asm', version: 1, text: SOURCES.sample } });
    const hover = await client.ask('textDocument/hover', { textDocument: { uri: sampleUri }, position: { line: SWAPGS_LINE, character: 2 } });
    expectAnswer('final hover', hover);
    const md = (hover.result as { contents?: { value?: string } } | null)?.contents?.value ?? '';
    if (!SWAPGS_COMMENT.test(md)) fail(`the final hover on swapgs lost its comment: ${JSON.stringify(md.slice(0, 300))}`);
    if (!client.alive()) fail('the server process died');
    if (client.logged.length) fail(`the server reported failures:\n${client.logged.join('\n').slice(0, 3000)}`);
  } finally {
    client.dispose();
  }
}

describe('fuzz: the language server over stdio (dist/languageServer.js)', function () {
  this.timeout(suiteTimeout(120_000));
  before(() => execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, stdio: 'ignore' }));

  it('random edits, settings and requests: every request answered, nothing fails, diagnostics name a line, hovers keep working', async () => {
    await fc.assert(fc.asyncProperty(fc.array(openOp, { minLength: 1, maxLength: 3 }), fc.array(op, { minLength: 5, maxLength: 40 }), (opens, ops) => sequence([...opens, ...ops])), fuzzParams(8));
  });
});
