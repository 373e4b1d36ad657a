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
