/**
 * `npm run bench`: one suite, every figure measured side by side with its reference in this run
 * and reported as a ratio or a percentile. Prints a table, writes test-artifacts/bench.json and
 * test-artifacts/bench.md (the table for bench/RESULTS.md).
 */
import * as fs from 'fs';
import * as path from 'path';
import { benchHotLoop, benchSyscalls, benchHistoryMemory } from './emulator';
import { benchSample, benchReal61 } from './assemble';
import { benchDapStep } from './dap';
import { benchHover } from './lsp';
import { benchActivation, benchVsix } from './extension';
import { figures, machine, table } from './report';
import { REPO, tmp } from './paths';

const PARTS: [string, () => unknown][] = [
  ['emulator hot loop', benchHotLoop],
  ['syscall round trips', benchSyscalls],
  ['history memory', benchHistoryMemory],
  ['launch the sample', benchSample],
  ['launch the real 6.1 entry_64.S', benchReal61],
  ['DAP step round trip', benchDapStep],
  ['hover', benchHover],
  ['extension activation', benchActivation],
  ['.vsix size', benchVsix],
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  for (const [name, fn] of PARTS) {
    if (only.length && !only.some((o) => name.includes(o))) continue;
    process.stderr.write(`[bench] ${name}\n`);
    try {
      await fn();
    } catch (e) {
      figures.push({ name, value: NaN, unit: '', note: `failed: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  const report = { machine: machine(), date: new Date().toISOString(), figures };
  const out = path.join(REPO, 'test-artifacts');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'bench.json'), JSON.stringify(report, null, 2));
  fs.writeFileSync(path.join(out, 'bench.md'), table(true) + '\n');
  const m = report.machine;
  console.log(`machine: ${m.cpu} x${m.cores}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}`);
  console.log(table());
  fs.rmSync(tmp, { recursive: true, force: true });
}

void main();
