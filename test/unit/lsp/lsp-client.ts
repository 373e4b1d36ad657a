/** A real LSP client for tests: spawns language-server/server.ts under tsx and speaks JSON-RPC over stdio. */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { KentryServerOptions } from '../../../language-server/protocol';

export const repoRoot = path.resolve(__dirname, '../../..');
export const seedDir = path.resolve(repoRoot, '../shared/seed');
export const uriOf = (p: string): string => pathToFileURL(p).href;

export interface LspSession {
  connection: MessageConnection;
  process: ChildProcess;
  /** Resolves with the first notification of `method` whose params satisfy `pred`. */
  waitFor<T>(method: string, pred: (params: T) => boolean): Promise<T>;
  open(file: string, text: string): Promise<void>;
  /**
   * Opens and resolves once the file's diagnostics are published: the server assembles on a worker
   * and hovers sent before that answer without expansions, so tests about expansions wait, as a
   * user does until the squiggles appear.
   */
  openAssembled(file: string, text: string): Promise<void>;
  /** Every notification so far, in arrival order (to assert what came before what). */
  seen: Array<{ method: string; params: unknown }>;
  close(): Promise<void>;
}

export async function startServer(options: KentryServerOptions, capabilities: object = {}): Promise<LspSession> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'language-server/server.ts'), '--stdio'], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const connection = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  const seen: Array<{ method: string; params: unknown }> = [];
  const waiters: Array<{ method: string; pred: (p: unknown) => boolean; resolve: (p: unknown) => void }> = [];
  connection.onNotification((method: string, params: unknown) => {
    seen.push({ method, params });
    for (const w of [...waiters]) {
      if (w.method === method && w.pred(params)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(params);
      }
    }
  });
  // Server -> client requests (client/registerCapability ...) are recorded with the notifications and answered.
  connection.onRequest((method: string, params: unknown) => {
    seen.push({ method, params });
    return null;
  });
  connection.listen();
  await connection.sendRequest('initialize', { processId: process.pid, rootUri: uriOf(repoRoot), capabilities, initializationOptions: options });
  await connection.sendNotification('initialized', {});
  return {
    connection,
    process: proc,
    waitFor<T>(method: string, pred: (params: T) => boolean): Promise<T> {
      const hit = seen.find((s) => s.method === method && pred(s.params as T));
      if (hit) return Promise.resolve(hit.params as T);
      return new Promise<T>((resolve) => waiters.push({ method, pred: pred as (p: unknown) => boolean, resolve: resolve as (p: unknown) => void }));
    },
    seen,
    async open(file: string, text: string) {
      await connection.sendNotification('textDocument/didOpen', { textDocument: { uri: uriOf(file), languageId: 'kentry-asm', version: 1, text } });
    },
    async openAssembled(file: string, text: string) {
      const before = seen.length;
      const published = new Promise<void>((resolve) => {
        const isIt = (method: string, p: unknown): boolean => method === 'textDocument/publishDiagnostics' && (p as { uri: string }).uri === uriOf(file);
        if (seen.slice(before).some((x) => isIt(x.method, x.params))) return resolve();
        waiters.push({ method: 'textDocument/publishDiagnostics', pred: (p) => isIt('textDocument/publishDiagnostics', p), resolve: () => resolve() });
      });
      await connection.sendNotification('textDocument/didOpen', { textDocument: { uri: uriOf(file), languageId: 'kentry-asm', version: 1, text } });
      await published;
    },
    async close() {
      try {
        await connection.sendRequest('shutdown');
        await connection.sendNotification('exit');
      } catch {
        // the server may already be gone
      }
      connection.dispose();
      proc.kill();
    },
  };
}

/** 0-based position of `needle` (plus `offset` characters) in text. */
export function positionOf(text: string, needle: string, offset = 0): { line: number; character: number } {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  if (line < 0) throw new Error(`not found: ${needle}`);
  return { line, character: lines[line].indexOf(needle) + offset };
}
