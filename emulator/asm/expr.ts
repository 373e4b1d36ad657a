/**
 * GNU as expressions: parsing with gas's operator precedence and evaluation to a linear
 * combination of "bases" (section starts, fragments, undefined symbols) plus a constant, which
 * is what relocations and symbol differences need. Relational operators yield -1 for true,
 * && and || yield 1 (gas semantics); >> is a logical shift; values are 64-bit.
 */

export type Expr =
  | { k: 'num'; v: bigint }
  | { k: 'sym'; name: string }
  | { k: 'un'; op: string; a: Expr }
  | { k: 'bin'; op: string; a: Expr; b: Expr };

/** Hooks the parser needs from the assembler: numeric local labels and '.'. */
export interface ExprHooks {
  /** Unique name of local label `n` referenced as `nb` (dir 'b') or `nf` (dir 'f'). */
  localLabel(n: string, dir: 'b' | 'f'): string;
  /** A symbol standing for the current location. */
  dot(): string;
  /** Number of register `%name` (gas lets `.if \reg == %rsp` compare registers), if it is one. */
  register?(name: string): number | undefined;
}

/** Registers in expressions become distinct constants, so only comparing them is meaningful. */
const REGISTER_VALUE_BASE = 0x5245_4700_0000_0000n;

/**
 * An expression error. Deliberately not an Error subclass: the assembler probes expressions
 * ("is this absolute yet?") thousands of times, and capturing a stack trace each time is slow.
 */
export class ExprError {
  readonly name = 'ExprError';
  constructor(readonly message: string) {}
}

/** gas's binary operator ranks (expr.c op_rank): higher binds tighter. */
const RANK: Record<string, number> = {
  '||': 2,
  '&&': 3,
  '==': 4, '!=': 4, '<>': 4, '<': 4, '<=': 4, '>': 4, '>=': 4,
  '+': 5, '-': 5,
  '|': 7, '^': 7, '&': 7, '!': 7,
  '*': 8, '/': 8, '%': 8, '<<': 8, '>>': 8,
};

const isSymStart = (c: string): boolean => /[A-Za-z_.]/.test(c);
const isSymChar = (c: string): boolean => /[A-Za-z0-9_.$]/.test(c);

/**
 * Parse an expression from `text` starting at `pos`. Stops at the first character that cannot
 * continue the expression (',', an unmatched ')', a '(' after an operand...), returning `end`.
 */
export function parseExpr(text: string, hooks: ExprHooks, pos = 0): { expr: Expr; end: number } {
  const p = new Parser(text, hooks, pos);
  const expr = p.binary(0);
  return { expr, end: p.skipWs() };
}

/** Parse a whole string as one expression (error if anything is left over). */
export function parseFullExpr(text: string, hooks: ExprHooks): Expr {
  const { expr, end } = parseExpr(text, hooks);
  if (end < text.length) throw new ExprError(`junk at end of expression: "${text.slice(end)}"`);
  return expr;
}

class Parser {
  constructor(private s: string, private hooks: ExprHooks, private i: number) {}

  skipWs(): number {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++;
    return this.i;
  }

  private peekOp(): string | undefined {
    this.skipWs();
    const two = this.s.substr(this.i, 2);
    if (['||', '&&', '==', '!=', '<>', '<=', '>=', '<<', '>>'].includes(two)) return two;
    const one = this.s[this.i];
    if (one !== undefined && '+-*/%|^&!<>'.includes(one)) return one;
    return undefined;
  }

  binary(minRank: number): Expr {
    let left = this.unary();
    for (;;) {
      const op = this.peekOp();
      if (!op) return left;
      const r = RANK[op];
      if (r <= minRank) return left;
      this.i += op.length;
      const right = this.binary(r);
      left = { k: 'bin', op, a: left, b: right };
    }
  }

  private unary(): Expr {
    this.skipWs();
    const c = this.s[this.i];
    if (c === '-' || c === '~' || c === '!' || c === '+') {
      this.i++;
      const a = this.unary();
      return c === '+' ? a : { k: 'un', op: c, a };
    }
    return this.primary();
  }

  private primary(): Expr {
    this.skipWs();
    const s = this.s;
    const c = s[this.i];
    if (c === undefined) throw new ExprError('missing operand');
    if (c === '(') {
      this.i++;
      const e = this.binary(0);
      this.skipWs();
      if (s[this.i] !== ')') throw new ExprError('missing ")"');
      this.i++;
      return e;
    }
    if (c === "'") {
      // Character constant: 'c (gas does not need a closing quote), with C escapes.
      let ch = s[this.i + 1];
      let len = 2;
      if (ch === '\\') {
        const e = s[this.i + 2];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\', "'": "'", '"': '"', b: '\b', f: '\f' };
        ch = map[e] ?? e;
        len = 3;
      }
      if (ch === undefined) throw new ExprError('bad character constant');
      this.i += len;
      if (s[this.i] === "'") this.i++;
      return { k: 'num', v: BigInt(ch.charCodeAt(0)) };
    }
    if (/[0-9]/.test(c)) {
      const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+(?![0-9A-Za-z_])|[0-9]+)/.exec(s.slice(this.i, this.i + 40));
      const tok = m ? m[0] : c;
      const after = s[this.i + tok.length];
      if (/^[0-9]+$/.test(tok) && (after === 'b' || after === 'f') && !isSymChar(s[this.i + tok.length + 1] ?? ' ')) {
        this.i += tok.length + 1;
        return { k: 'sym', name: this.hooks.localLabel(tok, after) };
      }
      if (after !== undefined && /[A-Za-z_]/.test(after)) throw new ExprError(`bad number "${s.slice(this.i).match(/^\w+/)?.[0]}"`);
      this.i += tok.length;
      let v: bigint;
      if (/^0[0-7]+$/.test(tok)) v = BigInt('0o' + tok.slice(1));
      else if (/^0[0-9]+$/.test(tok)) throw new ExprError(`bad octal number ${tok}`);
      else v = BigInt(tok);
      return { k: 'num', v: BigInt.asIntN(64, v) };
    }
    if (isSymStart(c)) {
      let j = this.i + 1;
      while (j < s.length && isSymChar(s[j])) j++;
      const name = s.slice(this.i, j);
      this.i = j;
      if (name === '.') return { k: 'sym', name: this.hooks.dot() };
      // foo@PLT and friends: the decoration changes the relocation kind only; keep the symbol.
      if (s[this.i] === '@' && /^@(PLT|GOTPCREL)\b/.test(s.slice(this.i))) this.i += s.slice(this.i).match(/^@\w+/)![0].length;
      return { k: 'sym', name };
    }
    if (c === '%' && this.hooks.register) {
      const m = /^%\s*([A-Za-z][A-Za-z0-9]*)/.exec(s.slice(this.i, this.i + 12));
      const r = m ? this.hooks.register(m[1]) : undefined;
      if (m && r !== undefined) {
        this.i += m[0].length;
        return { k: 'num', v: REGISTER_VALUE_BASE + BigInt(r) };
      }
    }
    if (c === '"') {
      // A quoted symbol name.
      const e = s.indexOf('"', this.i + 1);
      if (e < 0) throw new ExprError('unterminated quoted symbol');
      const name = s.slice(this.i + 1, e);
      this.i = e + 1;
      return { k: 'sym', name };
    }
    throw new ExprError(`bad expression at "${s.slice(this.i)}"`);
  }
}

/** a·x + b·y + ... + c; `sym` remembers the one positively-referenced named symbol (for relocs). */
export interface Value {
  c: bigint;
  terms: Map<string, bigint>;
  sym?: string;
  /** The value of `sym`'s own base term offset (so addends can be made symbol-relative). */
  symOff?: bigint;
}

/** Shared by every absolute value: term maps are never modified after creation (copy first). */
const NO_TERMS = new Map<string, bigint>();
export const constant = (c: bigint): Value => ({ c: BigInt.asIntN(64, c), terms: NO_TERMS });
export const isConst = (v: Value): boolean => v.terms.size === 0;

/** How the evaluator sees a symbol: its value, or undefined for "undefined symbol". */
export type SymbolLookup = (name: string, depth: number) => Value | undefined;

function combine(a: Value, b: Value, sign: 1n | -1n): Value {
  if (a.terms.size === 0 && b.terms.size === 0) return constant(a.c + sign * b.c);
  const terms = new Map(a.terms);
  for (const [k, v] of b.terms) {
    const n = (terms.get(k) ?? 0n) + sign * v;
    if (n === 0n) terms.delete(k);
    else terms.set(k, n);
  }
  const res: Value = { c: BigInt.asIntN(64, a.c + sign * b.c), terms };
  if (a.sym !== undefined && (sign === -1n || b.sym === undefined)) {
    res.sym = a.sym;
    res.symOff = a.symOff;
  } else if (b.sym !== undefined && sign === 1n && a.sym === undefined) {
    res.sym = b.sym;
    res.symOff = b.symOff;
  }
  if (res.sym !== undefined && terms.size === 0) res.sym = undefined;
  return res;
}

export function evaluate(e: Expr, lookup: SymbolLookup, depth = 0): Value {
  if (depth > 200) throw new ExprError('expression nesting too deep (recursive .set?)');
  switch (e.k) {
    case 'num':
      return constant(e.v);
    case 'sym': {
      const v = lookup(e.name, depth);
      if (v) return v;
      return { c: 0n, terms: new Map([[`U:${e.name}`, 1n]]), sym: e.name, symOff: 0n };
    }
    case 'un': {
      const a = evaluate(e.a, lookup, depth + 1);
      if (e.op === '-') return combine(constant(0n), a, -1n);
      if (!isConst(a)) throw new ExprError(`operator ${e.op} needs an absolute value`);
      return constant(e.op === '~' ? ~a.c : a.c === 0n ? 1n : 0n);
    }
    case 'bin': {
      const a = evaluate(e.a, lookup, depth + 1);
      const b = evaluate(e.b, lookup, depth + 1);
      if (e.op === '+') return combine(a, b, 1n);
      if (e.op === '-') return combine(a, b, -1n);
      if (!isConst(a) || !isConst(b)) {
        // Comparing two values with the same bases is still absolute.
        const d = combine(a, b, -1n);
        if (['==', '!=', '<>', '<', '<=', '>', '>='].includes(e.op) && isConst(d)) return constant(relational(e.op, d.c, 0n));
        throw new ExprError(`operator ${e.op} needs absolute values`);
      }
      return constant(binop(e.op, a.c, b.c));
    }
  }
}

function relational(op: string, x: bigint, y: bigint): bigint {
  let t: boolean;
  switch (op) {
    case '==': t = x === y; break;
    case '!=': case '<>': t = x !== y; break;
    case '<': t = x < y; break;
    case '<=': t = x <= y; break;
    case '>': t = x > y; break;
    default: t = x >= y;
  }
  return t ? -1n : 0n;
}

function binop(op: string, x: bigint, y: bigint): bigint {
  switch (op) {
    case '*': return x * y;
    case '/':
      if (y === 0n) throw new ExprError('division by zero');
      return x / y;
    case '%':
      if (y === 0n) throw new ExprError('division by zero');
      return x % y;
    case '<<': return y >= 64n || y < 0n ? 0n : x << y;
    case '>>': return y >= 64n || y < 0n ? 0n : BigInt.asUintN(64, x) >> y;
    case '|': return x | y;
    case '^': return x ^ y;
    case '&': return x & y;
    case '!': return x | ~y;
    case '&&': return x !== 0n && y !== 0n ? 1n : 0n;
    case '||': return x !== 0n || y !== 0n ? 1n : 0n;
    default: return relational(op, x, y);
  }
}
