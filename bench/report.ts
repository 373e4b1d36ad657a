/** The bench's figures: one row each, measured side by side with its reference in the same run. */
import * as os from 'os';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The reference measured in the same run (native code, GNU tools), when there is one. */
  reference?: number;
  ratio?: number;
  note: string;
}

export const figures: Figure[] = [];

export function add(f: Figure): void {
  figures.push(f);
}

/** Add a row saying why a figure could not be measured on this machine. */
export function skipped(name: string, why: string): void {
  figures.push({ name, value: NaN, unit: '', note: `skipped: ${why}` });
}

/** p-th percentile (nearest rank) of samples. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function machine(): { cpu: string; cores: number; memoryGiB: number; node: string; os: string } {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

const fmt = (v: number): string => (Number.isFinite(v) ? (Math.abs(v) >= 10000 ? v.toExponential(3) : v.toPrecision(4)) : 'n/a');

/** The table printed at the end, and the same rows as Markdown for bench/RESULTS.md. */
export function table(markdown = false): string {
  if (markdown) {
    const rows = figures.map((f) => `| ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.reference !== undefined ? fmt(f.reference) : ''} | ${f.ratio !== undefined ? fmt(f.ratio) : ''} | ${f.note} |`);
    return ['| figure | value | reference | ratio | note |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
  }
  return figures.map((f) => `${f.name.padEnd(66)} ${fmt(f.value).padStart(10)} ${f.unit.padEnd(16)} ${f.reference !== undefined ? `ref ${fmt(f.reference)}`.padEnd(15) : ''.padEnd(15)} ${f.ratio !== undefined ? `ratio ${fmt(f.ratio)}` : ''}  ${f.note}`).join('\n');
}
