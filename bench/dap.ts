/**
 * DAP step round trip as the user feels it: source-level `next` through entry_SYSCALL_64, then the
 * stackTrace, scopes and variables VS Code asks for at every stop. Over stdio against
 * dist/debugAdapter.js (the adapter's "server" mode; the inline mode saves the pipe).
 */
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { add, percentile, skipped } from './report';
import { DIST, REAL_61, SAMPLES, hasReal61 } from './paths';

/** Line of the first `swapgs` alone on its line inside entry_SYSCALL_64. */
function swapgsLine(file: string): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^SYM_CODE_START\(entry_SYSCALL_64\)/.test(l));
  const i = lines.findIndex((l, k) => k > start && /^\s*swapgs\s*$/.test(l));
  if (start < 0 || i < 0) throw new Error(`no swapgs in entry_SYSCALL_64 of ${file}`);
  return i + 1;
}

async function stepSamples(entry: string, kernelEntry: string | undefined, wanted: number): Promise<{ next: number[]; instruction: number[] }> {
  const next: number[] = [];
  const instruction: number[] = [];
  const line = swapgsLine(entry);
  while (next.length < wanted) {
    const dc = new DebugClient('node', path.join(DIST, 'debugAdapter.js'), 'kentry');
    await dc.start();
    try {
      const first = dc.waitForEvent('stopped', 60_000);
      await Promise.all([
        dc.waitForEvent('initialized', 60_000).then(async () => {
          await dc.setBreakpointsRequest({ source: { path: entry }, breakpoints: [{ line }] });
          await dc.configurationDoneRequest();
        }),
        dc.launch({ ...(kernelEntry ? { kernelEntry } : {}), historyLimit: 200_000 } as DebugProtocol.LaunchRequestArguments),
      ]);
      await first;
      let ended = false;
      const terminated = dc.waitForEvent('terminated', 600_000).then(() => { ended = true; }, () => undefined);
      // Each syscall of the sample program stops on swapgs; `next` walks the entry code line by line.
      for (let i = 0; i < 400 && next.length < wanted; i++) {
        const kind = i % 5 === 4 ? 'instruction' : 'next';
        const t0 = performance.now();
        const stopped = Promise.race([dc.waitForEvent('stopped', 30_000).then(() => true), terminated.then(() => false)]);
        await (kind === 'next' ? dc.nextRequest({ threadId: 1 }) : dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
        if (!(await stopped) || ended) break;
        const st = await dc.stackTraceRequest({ threadId: 1 });
        const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0]?.id ?? 0 });
        await dc.variablesRequest({ variablesReference: sc.body.scopes[0].variablesReference });
        (kind === 'next' ? next : instruction).push(performance.now() - t0);
      }
    } finally {
      await dc.stop();
    }
  }
  return { next, instruction };
}

export async function benchDapStep(): Promise<void> {
  const sample = await stepSamples(path.join(SAMPLES, 'entry_64.S'), undefined, 200);
  for (const [kind, s] of [['next', sample.next], ['instruction step', sample.instruction]] as const) {
    add({ name: `DAP ${kind} + stackTrace + scopes + variables, sample: p50`, value: percentile(s, 50), unit: 'ms', note: `${s.length} round trips over stdio, history on` });
    add({ name: `DAP ${kind} + stackTrace + scopes + variables, sample: p99`, value: percentile(s, 99), unit: 'ms', note: '' });
  }
  if (!hasReal61()) return skipped('DAP next on the real Linux 6.1 entry_SYSCALL_64', 'no prepared tree under .cache/linux');
  const real = await stepSamples(REAL_61, REAL_61, 150);
  add({ name: 'DAP next + stackTrace + scopes + variables, real 6.1: p50', value: percentile(real.next, 50), unit: 'ms', note: `${real.next.length} round trips over stdio, history on` });
  add({ name: 'DAP next + stackTrace + scopes + variables, real 6.1: p99', value: percentile(real.next, 99), unit: 'ms', note: '' });
}
