/** Resolving `#include` / `.include` lines against the include path, through the injected FileAccess. */
import * as path from 'path';
import type { FileAccess } from '../emulator/host';

export interface IncludeContext {
  fs: FileAccess;
  /** -I directories, searched in order. */
  includeDirs: readonly string[];
  /** Files included before the main file (gcc -include), searched for definitions too. */
  preIncludes: readonly string[];
}

const INCLUDE = /^\s*(?:#\s*include(?:_next)?\s*([<"])([^>"]+)[>"]|\.include\s+"([^"]+)")/;

export interface IncludeRef {
  /** As written. */
  target: string;
  /** 0-based column range of the written name. */
  start: number;
  end: number;
  quoted: boolean;
}

export function includeOnLine(line: string): IncludeRef | undefined {
  const m = INCLUDE.exec(line);
  if (!m) return undefined;
  const target = m[2] ?? m[3];
  const start = line.indexOf(target, m.index + 1);
  return { target, start, end: start + target.length, quoted: m[1] !== '<' };
}

/** The file an include names: next to the including file first for "quoted" names, then -I dirs. */
export function resolveInclude(ctx: IncludeContext, fromFile: string, ref: IncludeRef): string | undefined {
  const candidates = [...(ref.quoted ? [path.posix.dirname(fromFile)] : []), ...ctx.includeDirs].map((d) => path.posix.resolve(d, ref.target));
  return candidates.find((p) => ctx.fs.readFile(p) !== undefined);
}

/** Every file reachable by includes from `file` (itself excluded), depth first, each once. */
export function includeClosure(ctx: IncludeContext, file: string, text: string, limit = 200): string[] {
  const seen = new Set<string>([file]);
  const order: string[] = [];
  const visit = (from: string, src: string): void => {
    for (const line of src.split(/\r?\n/)) {
      const ref = includeOnLine(line);
      if (!ref) continue;
      const target = resolveInclude(ctx, from, ref);
      if (!target || seen.has(target) || order.length >= limit) continue;
      seen.add(target);
      order.push(target);
      visit(target, ctx.fs.readFile(target) ?? '');
    }
  };
  for (const pre of ctx.preIncludes) {
    if (seen.has(pre)) continue;
    seen.add(pre);
    order.push(pre);
    visit(pre, ctx.fs.readFile(pre) ?? '');
  }
  visit(file, text);
  return order;
}
