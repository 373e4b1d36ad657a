/**
 * Entry point of the kentry-asm language server (bundled to dist/languageServer.js). The same
 * script is also the assembly worker: started as a worker thread it assembles documents for the
 * server (assembly-worker.ts) instead of serving LSP (lsp-main.ts).
 */
import { isMainThread } from 'worker_threads';
import { runAssemblyWorker } from './assembly-worker';
import { serveLanguageServer } from './lsp-main';

if (isMainThread) serveLanguageServer(__filename);
else runAssemblyWorker();
