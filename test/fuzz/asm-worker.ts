/**
 * Runs in a worker thread (see asm-sandbox.ts): preprocesses or assembles one case with the
 * kernel's flags over an in-memory file set, and checks every diagnostic points into a file
 * that exists, at a line that exists. A hang here is caught by the parent's timer.
 */
import * as nodeFs from 'fs';
import { parentPort } from 'worker_threads';
import { assemble, preprocess } from '../../emulator/asm';
import { memoryFiles } from '../../emulator/host';
import { KERNEL_PROFILES, resolveConfig, kernelTranslationUnits, withGeneratedHeaders } from '../../emulator/kernel';
import { kernelBuild } from '../../emulator/kernel/sources';
import type { FileAccess } from '../../emulator/host';

export interface AsmCase {
  files: Record<string, string>;
  main: string;
  samplesDir: string;
  mode: 'preprocess' | 'assemble';
  /** The main file is in a real kernel tree: build it as the debugger does (Kbuild flags), other files from disk. */
  realTree?: boolean;
}

const disk: FileAccess = { readFile: (p) => { try { return nodeFs.statSync(p).isFile() ? nodeFs.readFileSync(p, 'utf8') : undefined; } catch { return undefined; } } };

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
  let fs = withGeneratedHeaders(memoryFiles(c.files), profile, config);
  let opts = { ...kernelTranslationUnits(c.main, c.samplesDir, profile, config, fs)[0], fs };
  if (c.realTree) {
    const b = kernelBuild(c.main, c.samplesDir, memoryFiles(c.files, disk));
    if ('error' in b) return { diagnostics: [], misplaced: [], lines: 0 };
    fs = b.units[0].fs ?? fs;
    opts = { ...b.units[0], fs };
  }
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
    if (d.message.startsWith('internal assembler error')) misplaced.push(`internal error reported as a diagnostic: ${d.message}`);
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
