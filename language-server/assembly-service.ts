/**
 * Runs AssemblyJobs on a worker thread (assembly-worker.ts), one at a time, so the server's own
 * thread stays free for hovers while a real entry_64.S assembles (about a second). A newer job
 * for the same file replaces one still waiting. If the worker cannot start or dies, jobs run on
 * the calling thread instead (slower to answer, never lost).
 */
import { Worker } from 'worker_threads';
import type { AssemblyJob, AssemblyResult } from './assembly-job';
import type { WorkerReply } from './assembly-worker';

interface Queued {
  job: AssemblyJob;
  /** undefined: superseded by a newer job for the same file before it started. */
  resolve: (r: AssemblyResult | undefined) => void;
  reject: (e: Error) => void;
}

export class AssemblyService {
  private worker: Worker | undefined;
  private broken = false;
  private running: (Queued & { id: number }) | undefined;
  private readonly waiting: Queued[] = [];
  private nextId = 1;

  /**
   * @param entryScript the script that, started as a worker, calls runAssemblyWorker()
   *   (the server's own bundle, dist/languageServer.js, or server.ts under tsx in tests)
   * @param inThread runs a job on this thread when there is no worker
   */
  constructor(
    private readonly entryScript: string,
    private readonly inThread: (job: AssemblyJob) => AssemblyResult,
    private readonly log: (message: string) => void,
  ) {}

  run(job: AssemblyJob): Promise<AssemblyResult | undefined> {
    return new Promise((resolve, reject) => {
      const stale = this.waiting.findIndex((q) => q.job.file === job.file);
      if (stale >= 0) this.waiting.splice(stale, 1)[0].resolve(undefined);
      this.waiting.push({ job, resolve, reject });
      this.pump();
    });
  }

  /** Starts the worker ahead of the first job: loading it costs a few hundred milliseconds the first file need not wait for. */
  start(): void {
    this.ensureWorker();
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private pump(): void {
    if (this.running) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.running = { ...next, id: this.nextId++ };
    const worker = this.ensureWorker();
    if (worker) {
      worker.postMessage({ id: this.running.id, job: next.job });
      return;
    }
    // The fallback: on this thread, after the messages already waiting (a hover typed before it).
    setImmediate(() => {
      this.running = undefined;
      this.runHere(next);
      this.pump();
    });
  }

  private runHere(q: Queued): void {
    try {
      q.resolve(this.inThread(q.job));
    } catch (e) {
      q.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    try {
      // Under tsx (tests) the worker needs tsx's require hook to load .ts; the bundle needs nothing.
      const execArgv = this.entryScript.endsWith('.ts') ? ['--require', 'tsx/cjs'] : [];
      // stdout: true keeps anything the worker prints off the parent's stdout, the LSP stream.
      const w = new Worker(this.entryScript, { execArgv, stdout: true, workerData: { kentryAssemblyWorker: true } });
      w.unref();
      w.on('message', (reply: WorkerReply) => this.onReply(reply));
      w.on('error', (e) => this.onWorkerGone(`assembly worker failed: ${e.stack ?? e.message}`));
      w.on('exit', (code) => this.onWorkerGone(`assembly worker exited (${code})`));
      this.worker = w;
    } catch (e) {
      this.broken = true;
      this.log(`assembly worker unavailable, assembling on the server thread: ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.worker;
  }

  private onReply(reply: WorkerReply): void {
    const r = this.running;
    if (!r || r.id !== reply.id) return;
    this.running = undefined;
    if ('result' in reply) {
      r.resolve(reply.result);
    } else {
      // A job the worker could not finish (or send back) gets one more try here, where errors are reported.
      this.log(`assembly worker: ${reply.error}`);
      this.runHere(r);
    }
    this.pump();
  }

  /** A dead worker is not restarted: the job it had and the rest run on this thread. */
  private onWorkerGone(why: string): void {
    if (!this.worker) return;
    this.worker = undefined;
    this.broken = true;
    this.log(`${why}; assembling on the server thread from now on`);
    const r = this.running;
    this.running = undefined;
    if (r) this.waiting.unshift(r);
    this.pump();
  }
}
