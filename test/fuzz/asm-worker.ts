/**
 * Runs in a worker thread (see asm-sandbox.ts): preprocesses or assembles one case with the
 * kernel's flags over an in-memory file set, and checks every diagnostic points into a file
 * that exists, at a line that exists. A hang here is caught by the parent's timer.
 */
import { parentPort } from 'worker_threads';
import { assemble, preprocess } from '../../emulator/asm';
import { memoryFiles } from '../../emulator/host';
import { KERNEL_PROFILES, resolveConfig, kernelTranslationUnits, withGeneratedHeaders } from '../../emulator/kernel';

export interface AsmCase {
  files: Record<string, string>;
  main: string;
  samplesDir: string;
  mode: 'preprocess' | 'assemble';
}

export interface AsmOutcome {
  diagnostics: { file: string; line: number; message: string }[];
  /** Diagnostics whose file:line does not exist. */
  misplaced: string[];
  /** A JS exception out of preprocess/assemble. */
  threw?: string;
  lines: number;
}

function runCase(c: AsmCase): AsmOutcome {
  const profile = KERNEL_PROFILES['5.8'];
  const config = resolveConfig(profile);
  const fs = withGeneratedHeaders(memoryFiles(c.files), profile, config);
  const unit = kernelTranslationUnits(c.main, c.samplesDir, profile, config, fs)[0];
  const opts = { ...unit, fs };
  let diagnostics;
  let lines = 0;
  try {
    if (c.mode === 'preprocess') {
      const r = preprocess(opts);
      diagnostics = r.diagnostics;
      lines = r.lines.length;
    } else {
      const r = assemble(opts);
      diagnostics = r.diagnostics;
      lines = r.lines.length;
    }
  } catch (e) {
    return { diagnostics: [], misplaced: [], threw: (e as Error).stack ?? String(e), lines };
  }
  const misplaced: string[] = [];
  for (const d of diagnostics) {
    const text = typeof d.loc?.file === 'string' ? fs.readFile(d.loc.file) : undefined;
    const count = text === undefined ? 0 : text.split('\n').length;
    // An internal error is a bug the assembler caught, not a diagnostic about the input.
    if (/internal/i.test(d.message)) misplaced.push(`internal error reported as a diagnostic: ${d.message}`);
    if (!(d.loc.line >= 1 && d.loc.line <= count)) misplaced.push(`${d.loc?.file}:${d.loc?.line} (${count} lines): ${d.message}`);
    for (const f of d.stack) {
      const t = fs.readFile(f.loc.file);
      if (t === undefined || !(f.loc.line >= 1 && f.loc.line <= t.split('\n').length)) misplaced.push(`expanded from ${f.loc.file}:${f.loc.line}: ${d.message}`);
    }
  }
  // Diagnostics have a clear, bounded message (a message, not a dump).
  return { diagnostics: diagnostics.slice(0, 50).map((d) => ({ file: d.loc.file, line: d.loc.line, message: d.message.slice(0, 300) })), misplaced, lines };
}

parentPort?.on('message', (c: AsmCase) => {
  parentPort?.postMessage(runCase(c));
});
