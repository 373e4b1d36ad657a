/** Assembler diagnostics placed on the line of the open file the user can fix (Problems panel). */
import * as path from 'path';
import type { Diagnostic } from '../emulator/asm/types';

export interface FileDiagnostic {
  /** 0-based line in the file. */
  line: number;
  severity: 'error' | 'warning';
  message: string;
  /** Where inside a macro or header the problem really is, when that is elsewhere. */
  origin?: { file: string; line: number };
}

/**
 * The diagnostics that concern `file`: a problem inside a macro or an included header is shown
 * on the outermost line of `file` that led to it (the macro call, the #include), with the inner
 * location in the message.
 */
export function diagnosticsForFile(diags: readonly Diagnostic[], file: string): FileDiagnostic[] {
  const out: FileDiagnostic[] = [];
  for (const d of diags) {
    const chain = [...d.stack.map((f) => f.loc), d.loc];
    const anchor = chain.find((l) => l.file === file);
    if (!anchor) continue;
    const inner = anchor === d.loc ? undefined : d.loc;
    const via = d.stack.length && inner ? ` (in ${d.stack.map((f) => f.name).join(' > ')}, at ${path.posix.basename(d.loc.file)}:${d.loc.line})` : '';
    out.push({
      line: Math.max(0, anchor.line - 1),
      severity: d.severity,
      message: d.message + via,
      origin: inner && { file: inner.file, line: inner.line },
    });
  }
  return out;
}
