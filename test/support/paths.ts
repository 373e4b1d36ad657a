/** Paths the suites share: the repo, the bundled samples, and the seed note (read from ../shared, never copied). */
import * as path from 'path';
import * as fs from 'fs';

export const REPO = path.resolve(__dirname, '..', '..');
export const SAMPLES = path.join(REPO, 'samples');
export const SEED_DIR = path.resolve(REPO, '..', 'shared', 'seed');
export const SEED_S = path.join(SEED_DIR, 'entry_SYSCALL_64.v5.8.13.annotated.S');

/** 1-based line numbers of the lines of `file` matching `re`. */
export function linesMatching(file: string, re: RegExp): number[] {
  return fs.readFileSync(file, 'utf8').split('\n').flatMap((l, i) => (re.test(l) ? [i + 1] : []));
}

export function lineOf(file: string, re: RegExp): number {
  const found = linesMatching(file, re);
  if (found.length !== 1) throw new Error(`expected one line matching ${re} in ${file}, found ${found.length}`);
  return found[0];
}
