/** Resolving `#include` / `.include` lines against the include path, through the injected FileAccess. */
import * as path from 'path';
import type { FileAccess } from '../emulator/host';

export interface IncludeContext {
  fs: FileAccess;
  /** -I directories, searched in order. */
  includeDirs: readonly string[];
  /** Files included before the main file (gcc -include), searched for definitions too. */
  preIncludes: readonly string[];
  /**
   * Results computed once per build (the Analyzer makes one per build settings and drops it when a
   * file may have changed): without it every hover re-resolved a hundred #includes from disk.
   */
  memo?: IncludeMemo;
}

/** Include closures (and what derives from them) of one build, by including file; valid for its text only. */
export class IncludeMemo {
  /** By including file; valid while its #include lines are the same (typing elsewhere keeps it). */
  readonly closures = new Map<string, { includes: string; limit: number; order: string[] }>();
  /** Anything else keyed by the including file and valid for its text (hover's #define table). */
  readonly derived = new Map<string, { text: string; value: unknown }>();
  /** Every file some cached closure holds: a change to one of them makes this memo stale. */
  readonly files = new Set<string>();

  /** `compute()` once per (key, text). */
  derive<T>(key: string, text: string, compute: () => T): T {
    const hit = this.derived.get(key);
    if (hit && hit.text === text) return hit.value as T;
    const value = compute();
    this.derived.set(key, { text, value });
    return value;
  }
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
export function includeClosure(ctx: IncludeContext, file: string, text: string, limit = 200): readonly string[] {
  const steps = includeClosureSteps(ctx, file, text, limit);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** The text's include lines, in order: all a closure depends on besides the files themselves. */
export function includeLines(text: string): string {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) if (line.includes('include') && INCLUDE.test(line)) out.push(line);
  return out.join('\n');
}

/**
 * The closure, one included file per step (a real tree's takes tens of milliseconds of reads):
 * the server steps through it between messages (includeClosureSteps), includeClosure() at once.
 */
function* closureSteps(ctx: IncludeContext, file: string, text: string, limit: number): Generator<void, string[], void> {
  const seen = new Set<string>([file]);
  const order: string[] = [];
  function* visit(from: string, src: string): Generator<void, void, void> {
    for (const line of src.split(/\r?\n/)) {
      const ref = includeOnLine(line);
      if (!ref) continue;
      const target = resolveInclude(ctx, from, ref);
      if (!target || seen.has(target) || order.length >= limit) continue;
      seen.add(target);
      order.push(target);
      yield;
      yield* visit(target, ctx.fs.readFile(target) ?? '');
    }
  }
  for (const pre of ctx.preIncludes) {
    if (seen.has(pre)) continue;
    seen.add(pre);
    order.push(pre);
    yield* visit(pre, ctx.fs.readFile(pre) ?? '');
  }
  yield* visit(file, text);
  return order;
}

/** includeClosure() in steps, remembered in ctx.memo like includeClosure's; returns the closure. */
export function* includeClosureSteps(ctx: IncludeContext, file: string, text: string, limit = 200): Generator<void, readonly string[], void> {
  const includes = ctx.memo ? includeLines(text) : '';
  const hit = ctx.memo?.closures.get(file);
  if (hit && hit.includes === includes && hit.limit === limit) return hit.order;
  const order = yield* closureSteps(ctx, file, text, limit);
  if (ctx.memo) {
    ctx.memo.closures.set(file, { includes, limit, order });
    for (const f of order) ctx.memo.files.add(f);
  }
  return order;
}
