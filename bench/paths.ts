/** Where the bench finds things (it runs as dist/bench.js, so paths are from the repo root). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..');
export const SAMPLES = path.join(REPO, 'samples');
export const DIST = path.join(REPO, 'dist');
export const REAL_61 = path.join(REPO, '.cache/linux/linux-source-6.1/arch/x86/entry/entry_64.S');
export const hasReal61 = (): boolean => fs.existsSync(path.join(REPO, '.cache/linux/linux-source-6.1/include/generated/asm-offsets.h'));
export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-bench-'));
