/**
 * Shared settings of the fuzz suites. CI (plain `npx mocha`) runs a fixed seed and a small number
 * of cases per property, so the whole fuzz suite stays around a minute and a failure reproduces;
 * `KENTRY_FUZZ_RUNS=N` (or `npm run fuzz`) runs N cases per property with a random seed, and
 * `KENTRY_FUZZ_SEED=S` replays a seed that fast-check printed.
 */
import * as fc from 'fast-check';

const envRuns = Number(process.env.KENTRY_FUZZ_RUNS ?? '');
/** True for a long run asked for on the command line. */
export const LONG_RUN = Number.isFinite(envRuns) && envRuns > 0;

/** fast-check parameters: `ciRuns` cases in CI, KENTRY_FUZZ_RUNS in a long run. */
export function fuzzParams<T>(ciRuns: number): fc.Parameters<T> {
  const seedText = process.env.KENTRY_FUZZ_SEED;
  const seed = seedText !== undefined && seedText !== '' ? Number(seedText) : LONG_RUN ? undefined : 0x6b656e;
  return {
    numRuns: LONG_RUN ? envRuns : ciRuns,
    ...(seed !== undefined ? { seed } : {}),
    verbose: fc.VerbosityLevel.Verbose,
  };
}

/** A mocha timeout that grows with a long run (mocha cannot interrupt a synchronous hang; the workers can). */
export function suiteTimeout(ciMs: number): number {
  return LONG_RUN ? 0 : ciMs;
}

/** A line-level edit of a source text (fuzzers mutate real files with these). */
export type LineMutation = { op: 'delete' | 'duplicate' | 'insert' | 'truncate' | 'junk' | 'swap'; a: number; b: number; text: string };

/** Apply mutations in order; indexes wrap, so any numbers fast-check draws are valid. */
export function mutateLines(text: string, ms: readonly LineMutation[]): string {
  let lines = text.split('\n');
  for (const m of ms) {
    const i = lines.length ? m.a % lines.length : 0;
    switch (m.op) {
      case 'delete': lines.splice(i, Math.max(1, m.b)); break;
      case 'duplicate': lines.splice(i, 0, ...lines.slice(i, i + Math.max(1, m.b))); break;
      case 'insert': lines.splice(i, 0, m.text); break;
      case 'swap': { const j = (i + m.b) % Math.max(1, lines.length); [lines[i], lines[j]] = [lines[j], lines[i]]; break; }
      case 'truncate': { const all = lines.join('\n'); lines = all.slice(0, m.a % (all.length + 1)).split('\n'); break; }
      case 'junk': { const l = lines[i] ?? ''; const at = m.b % (l.length + 1); lines[i] = l.slice(0, at) + m.text + l.slice(at); break; }
    }
  }
  return lines.join('\n');
}
