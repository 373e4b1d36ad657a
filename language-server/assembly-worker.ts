/**
 * The worker-thread side of AssemblyService: runs Analyzer.analyse() for each AssemblyJob and
 * posts the AssemblyResult back. It reads the disk itself (files as the main thread would see
 * them: open documents from the job's overlay first) and keeps what it read until the main
 * thread says the disk may have changed (diskEpoch).
 */
import * as fs from 'fs';
import { parentPort } from 'worker_threads';
import type { FileAccess } from '../emulator/host';
import { Analyzer } from './analysis';
import type { AssemblyJob, AssemblyResult } from './assembly-job';
import { loadAssembler } from './engine';

/** Message worker -> main thread: a job's result, or why it failed. */
export type WorkerReply = { id: number; result: AssemblyResult } | { id: number; error: string };

export function runAssemblyWorker(): void {
  const port = parentPort;
  if (!port) return;
  const disk = new Map<string, string | undefined>();
  let overlay = new Map<string, string>();
  let epoch = -1;
  let optionsKey = '';
  const files: FileAccess = {
    readFile(p) {
      const open = overlay.get(p);
      if (open !== undefined) return open;
      if (!disk.has(p)) {
        try {
          disk.set(p, fs.readFileSync(p, 'utf8'));
        } catch {
          disk.set(p, undefined);
        }
      }
      return disk.get(p);
    },
  };
  const analyzer = new Analyzer(files, {}, loadAssembler());

  port.on('message', (msg: { id: number; job: AssemblyJob }) => {
    const { id, job } = msg;
    try {
      const key = JSON.stringify(job.options);
      if (key !== optionsKey) {
        optionsKey = key;
        analyzer.setOptions(job.options);
      }
      if (job.diskEpoch !== epoch) {
        epoch = job.diskEpoch;
        disk.clear();
      }
      // Builds are cheap next to the assembly; rebuilding per job means no stale header text.
      overlay = new Map([...job.overlay, [job.file, job.text]]);
      analyzer.refresh();
      analyzer.forget(job.file);
      const s = analyzer.state(job.file, job.version, job.text);
      const result = analyzer.analyse(s);
      // Only the result crosses back; the worker keeps no per-document state.
      analyzer.forget(job.file);
      port.postMessage({ id, result } satisfies WorkerReply);
    } catch (e) {
      port.postMessage({ id, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies WorkerReply);
    }
  });
}
