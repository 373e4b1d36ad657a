/**
 * One worker thread that preprocesses/assembles fuzz cases, so a case that never finishes is
 * reported (and the worker replaced) instead of hanging the test run.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { AsmCase, AsmOutcome } from './asm-worker';

const WORKER = path.join(__dirname, 'asm-worker.ts');

export type SandboxOutcome = AsmOutcome | { hang: true; seconds: number };

export class AsmSandbox {
  private worker: Worker | undefined;

  private start(): Worker {
    // The worker loads TypeScript the way mocha does (tsx).
    this.worker ??= new Worker(`require('tsx/cjs'); require(${JSON.stringify(WORKER)});`, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 1536 } });
    return this.worker;
  }

  /** Run one case; `seconds` is the wall-clock limit after which it counts as a hang. */
  run(c: AsmCase, seconds = 30): Promise<SandboxOutcome> {
    const w = this.start();
    return new Promise((resolve) => {
      const done = (o: SandboxOutcome): void => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        resolve(o);
      };
      const onMessage = (o: AsmOutcome): void => done(o);
      // Out of memory or a crash of the worker is a finding too.
      const onError = (e: Error): void => { this.worker = undefined; done({ diagnostics: [], misplaced: [], threw: `worker died: ${e.message}`, lines: 0 }); };
      const timer = setTimeout(() => {
        void w.terminate();
        this.worker = undefined;
        done({ hang: true, seconds });
      }, seconds * 1000);
      w.on('message', onMessage);
      w.on('error', onError);
      w.postMessage(c);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

/** Why an outcome is a bug, or undefined when it is fine (diagnostics are fine; crashes, hangs and lost locations are not). */
export function problem(o: SandboxOutcome): string | undefined {
  if ('hang' in o) return `did not finish within ${o.seconds} s`;
  if (o.threw) return `threw: ${o.threw}`;
  if (o.misplaced.length) return `bad diagnostics: ${o.misplaced.slice(0, 5).join('; ')}`;
  return undefined;
}
