/**
 * Inactive preprocessor regions: the lines an `#if`/`#ifdef` leaves out for the chosen kernel
 * configuration, so the editor can grey them out (e.g. the CONFIG_X86_5LEVEL branch).
 */
import { scanSource } from './source-lines';

export interface LineRange {
  /** 0-based, inclusive. */
  startLine: number;
  endLine: number;
}

/** Object-like macro values; a name mapped to '' is defined empty. */
export type Defines = Map<string, string>;

/** Each #define / #undef in `text`, applied in order to `into` regardless of conditionals (headers' guards). */
export function collectDefines(text: string, into: Defines): Defines {
  for (const l of scanSource(text)) {
    if (l.kind !== 'directive') continue;
    const op = defineOp(l.raw);
    if (!op) continue;
    if (op[1] === undefined) into.delete(op[0]);
    else into.set(op[0], op[1]);
  }
  return into;
}

/** A directive line's effect: [name, body] for #define, [name, undefined] for #undef, else undefined. */
export function defineOp(raw: string): [string, string | undefined] | undefined {
  const d = /^\s*#\s*define\s+([A-Za-z_]\w*)(\([^)]*\))?\s*(.*)$/.exec(raw);
  if (d) return [d[1], d[2] ? `(${d[2]}) ${d[3]}` : d[3].trim()];
  const u = /^\s*#\s*undef\s+([A-Za-z_]\w*)/.exec(raw);
  return u ? [u[1], undefined] : undefined;
}

/** The lines excluded by conditionals, given what is defined before the file starts. */
export function inactiveRegions(text: string, initial: Defines): LineRange[] {
  const defines = new Map(initial);
  const lines = scanSource(text);
  // Each frame: is this branch active, has any branch of this #if been taken, is the parent active.
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const regions: LineRange[] = [];
  let inactiveFrom = -1;
  const activeNow = (): boolean => (stack.length ? stack[stack.length - 1].active : true);
  for (const l of lines) {
    const wasActive = activeNow();
    if (l.kind === 'directive') {
      const m = /^\s*#\s*(\w+)\s*(.*)$/.exec(l.code)!;
      const [, dir, rest] = m;
      const cond = (): boolean => evaluateCondition(rest, defines);
      if (dir === 'if' || dir === 'ifdef' || dir === 'ifndef') {
        const parent = activeNow();
        const v = parent && (dir === 'if' ? cond() : dir === 'ifdef' ? defines.has(rest.trim().split(/\s/)[0]) : !defines.has(rest.trim().split(/\s/)[0]));
        stack.push({ active: v, taken: v, parent });
      } else if ((dir === 'elif' || dir === 'else') && stack.length) {
        const top = stack[stack.length - 1];
        const v = top.parent && !top.taken && (dir === 'else' || cond());
        top.active = v;
        top.taken ||= v;
      } else if (dir === 'endif' && stack.length) {
        stack.pop();
      } else if (wasActive && dir === 'define') {
        collectDefines(l.raw, defines);
      } else if (wasActive && dir === 'undef') {
        collectDefines(l.raw, defines);
      }
      // Directive lines themselves stay visible; close a region before one.
      if (inactiveFrom >= 0) {
        regions.push({ startLine: inactiveFrom, endLine: l.index - 1 });
        inactiveFrom = -1;
      }
      if (!activeNow()) inactiveFrom = l.index + 1;
      continue;
    }
  }
  if (inactiveFrom >= 0 && inactiveFrom < lines.length) regions.push({ startLine: inactiveFrom, endLine: lines.length - 1 });
  return regions.filter((r) => r.endLine >= r.startLine);
}

// --- #if expressions ------------------------------------------------------------------------

type Tok = { t: 'num'; v: bigint } | { t: 'id'; v: string } | { t: 'op'; v: string };

function tokenize(expr: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|\s*([A-Za-z_]\w*)|\s*(&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%()!<>&|^~?:,])/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < expr.length && (m = re.exec(expr))) {
    if (m[1]) out.push({ t: 'num', v: BigInt(m[1]) });
    else if (m[2]) out.push({ t: 'id', v: m[2] });
    else if (m[3]) out.push({ t: 'op', v: m[3] });
  }
  return out;
}

const BINARY: Record<string, [number, (a: bigint, b: bigint) => bigint]> = {
  '||': [1, (a, b) => (a || b ? 1n : 0n)], '&&': [2, (a, b) => (a && b ? 1n : 0n)],
  '|': [3, (a, b) => a | b], '^': [4, (a, b) => a ^ b], '&': [5, (a, b) => a & b],
  '==': [6, (a, b) => (a === b ? 1n : 0n)], '!=': [6, (a, b) => (a !== b ? 1n : 0n)],
  '<': [7, (a, b) => (a < b ? 1n : 0n)], '>': [7, (a, b) => (a > b ? 1n : 0n)],
  '<=': [7, (a, b) => (a <= b ? 1n : 0n)], '>=': [7, (a, b) => (a >= b ? 1n : 0n)],
  '<<': [8, (a, b) => a << b], '>>': [8, (a, b) => a >> b],
  '+': [9, (a, b) => a + b], '-': [9, (a, b) => a - b],
  '*': [10, (a, b) => a * b], '/': [10, (a, b) => (b ? a / b : 0n)], '%': [10, (a, b) => (b ? a % b : 0n)],
};

/** Evaluates a `#if` expression; unknown names are 0 as in cpp, malformed input is false. */
export function evaluateCondition(expr: string, defines: Defines): boolean {
  try {
    return evaluate(expr, defines, 0) !== 0n;
  } catch {
    return false;
  }
}

/** A define's numeric value (e.g. `(64 - 48)`), or undefined when it is not a constant expression. */
export function evaluateExpression(expr: string, defines: Defines): bigint | undefined {
  if (!/^[\s\w()+\-*/%<>&|^~!]*$/.test(expr) || !/\d|\w/.test(expr)) return undefined;
  try {
    const names = tokenize(expr).flatMap((t) => (t.t === 'id' ? [t.v] : []));
    if (names.some((n) => !defines.has(n))) return undefined;
    return evaluate(expr, defines, 0);
  } catch {
    return undefined;
  }
}

function evaluate(expr: string, defines: Defines, depth: number): bigint {
  if (depth > 20) return 0n;
  const toks = tokenize(expr);
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()!.v === v;
  const primary = (): bigint => {
    const t = toks[p++];
    if (!t) throw new Error('end');
    if (t.t === 'num') return t.v;
    if (t.t === 'op') {
      if (t.v === '(') {
        const v = ternary();
        if (isOp(')')) p++;
        return v;
      }
      const v = primary();
      if (t.v === '!') return v ? 0n : 1n;
      if (t.v === '-') return -v;
      if (t.v === '~') return ~v;
      return v;
    }
    if (t.v === 'defined' || t.v === 'IS_ENABLED' || t.v === 'IS_BUILTIN') {
      const paren = isOp('(');
      if (paren) p++;
      const name = toks[p++];
      if (paren && isOp(')')) p++;
      return name && name.t === 'id' && defines.has(name.v) ? 1n : 0n;
    }
    if (isOp('(')) {
      // An unknown function-like macro: skip its arguments, count it as 0.
      let level = 0;
      do {
        const x = toks[p++];
        if (x?.t === 'op' && x.v === '(') level++;
        if (x?.t === 'op' && x.v === ')') level--;
      } while (level > 0 && p < toks.length);
      return 0n;
    }
    const body = defines.get(t.v);
    const functionLike = body !== undefined && body.startsWith('((');
    return body === undefined || body === '' || functionLike ? 0n : evaluate(body, defines, depth + 1);
  };
  const binary = (minPrec: number): bigint => {
    let left = primary();
    for (;;) {
      const t = peek();
      const op = t?.t === 'op' ? BINARY[t.v] : undefined;
      if (!op || op[0] < minPrec) return left;
      p++;
      left = op[1](left, binary(op[0] + 1));
    }
  };
  const ternary = (): bigint => {
    const c = binary(1);
    if (!isOp('?')) return c;
    p++;
    const a = ternary();
    if (isOp(':')) p++;
    const b = ternary();
    return c ? a : b;
  };
  return ternary();
}
