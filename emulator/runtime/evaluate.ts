/**
 * The one expression evaluator: conditional breakpoints, hit counts, logpoints, watch, the Debug
 * Console and hovers all come here. C-like syntax over the machine:
 *   registers ($rax, %rax, rax, eax, rip, rflags, cr3, cpl), numbers (0x.., decimal),
 *   + - * / % & | ^ << >> ~ ! ( ), comparisons, && ||,
 *   memory with casts and dereference: *(u64 *)($rsp+8), *(u32 *)0xffff..., &x,
 *   symbols (entry_SYSCALL_64), MSRs (LSTAR, MSR_LSTAR),
 *   per-CPU variables: this_cpu(cpu_tss_rw).x86_tss.sp2, this_cpu(cpu_tlbstate).user_pcid_flush_mask,
 *   pt_regs by field: regs->ip, regs->orig_ax.
 * Errors come back as { error }, never thrown.
 */
import { MSR, MSR_TABLE, PT_REGS, X86_HW_TSS } from '../machine/facts';
import { GPR_NAMES, type CpuState } from '../machine/state';

/** On an error reading memory, `address`/`size` still say where the lvalue is (a data breakpoint can watch it). */
export type EvalResult = { value: bigint; description?: string; address?: bigint; size?: number } | { error: string; address?: bigint; size?: number };

/** What an expression can see; the runtime (or any engine with a state snapshot) provides it. */
export interface EvalContext {
  state: CpuState;
  /** Read `size` (1, 2, 4, 8) bytes little-endian in the current address space; a string is why not. */
  read(address: bigint, size: number): bigint | string;
  symbol(name: string): bigint | undefined;
  /** A per-CPU variable of the running CPU: its address and size. */
  perCpu(name: string): { address: bigint; size: number } | undefined;
  /** Base of the pt_regs frame on the task stack. */
  ptRegsBase(): bigint | undefined;
}

type CType =
  | { kind: 'int'; size: number; signed: boolean }
  | { kind: 'ptr'; to: CType }
  | { kind: 'array'; of: CType; length: number }
  | { kind: 'struct'; name: string };

interface Value {
  value: bigint;
  type: CType;
  /** Where the value lives, for an lvalue in memory. */
  address?: bigint;
  description?: string;
}

const U64: CType = { kind: 'int', size: 8, signed: false };
type IntType = Extract<CType, { kind: 'int' }>;
const int = (size: number, signed = false): IntType => ({ kind: 'int', size, signed });

interface Member { name: string; offset: number; type: CType; doc?: string }
const STRUCTS: Record<string, Member[]> = {
  pt_regs: PT_REGS.map((f) => ({ name: f.field, offset: f.offset, type: U64, doc: f.doc })),
  x86_hw_tss: [
    ...X86_HW_TSS.filter((f) => !f.field.startsWith('ist[')).map((f) => ({ name: f.field, offset: f.offset, type: int(f.size), doc: f.doc })),
    { name: 'ist', offset: 36, type: { kind: 'array', of: U64, length: 7 }, doc: 'Interrupt stack table' },
  ],
  tss_struct: [{ name: 'x86_tss', offset: 0, type: { kind: 'struct', name: 'x86_hw_tss' } }],
  // struct tlb_state of 5.8 (the fields the entry code's asm-offsets name).
  tlb_state: [
    { name: 'loaded_mm', offset: 0, type: U64 }, { name: 'last_user_mm', offset: 8, type: U64 },
    { name: 'loaded_mm_asid', offset: 16, type: int(2) }, { name: 'next_asid', offset: 18, type: int(2) },
    { name: 'is_lazy', offset: 20, type: int(1) }, { name: 'invalidate_other', offset: 21, type: int(1) },
    { name: 'user_pcid_flush_mask', offset: 22, type: int(2), doc: 'user PCIDs to flush on the next return to user mode' },
    { name: 'cr4', offset: 24, type: U64 },
  ],
};
const PER_CPU_TYPES: Record<string, string> = { cpu_tss_rw: 'tss_struct', cpu_tlbstate: 'tlb_state' };

const SUB_REGISTERS: Record<string, [number, number]> = Object.fromEntries([
  ...['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'].map((n, i) => [n, [i, 4]]),
  ...Array.from({ length: 8 }, (_, i) => [`r${i + 8}d`, [i + 8, 4]]),
]) as Record<string, [number, number]>;

class EvalError extends Error {
  constructor(message: string, readonly where?: { address: bigint; size: number }) {
    super(message);
  }
}

/** Deeper than this is not an expression anyone types; stop before the JS stack does. */
const MAX_NESTING = 500;

/** table[key] for the table's own keys only ("constructor" or "__proto__" are not registers or structs). */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

const TYPE_WORDS = new Set(['u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'char', 'short', 'int', 'long', 'unsigned', 'signed', 'void', 'struct', 'uint8_t', 'uint16_t', 'uint32_t', 'uint64_t', 'int8_t', 'int16_t', 'int32_t', 'int64_t']);

const TRAILING_SPACE = /\s*$/y;

function tokenize(text: string): string[] {
  const re = /\s*(0x[0-9a-fA-F]+|\d+|[$%]?[A-Za-z_][\w.]*(?:\[\d+\])?|->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!()<>[\],.])/y;
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    TRAILING_SPACE.lastIndex = i;
    if (TRAILING_SPACE.test(text)) break;
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new EvalError(`unexpected "${text.slice(i).trim().slice(0, 10)}"`);
    // Identifiers may contain dots only for names like "x86_tss.sp2" after a member access; split them.
    const tok = m[1];
    if (/^[$%]?[A-Za-z_]/.test(tok) && tok.includes('.')) {
      tok.split('.').forEach((part, j) => { if (j) out.push('.'); if (part) out.push(part); });
    } else if (/^[A-Za-z_]\w*\[\d+\]$/.test(tok)) {
      const [, name, idx] = /^(\w+)\[(\d+)\]$/.exec(tok) as RegExpExecArray;
      out.push(name, '[', idx, ']');
    } else out.push(tok);
    i = re.lastIndex;
  }
  return out;
}

const BINARY: [string[], number][] = [
  [['||'], 1], [['&&'], 2], [['|'], 3], [['^'], 4], [['&'], 5], [['==', '!='], 6], [['<', '<=', '>', '>='], 7], [['<<', '>>'], 8], [['+', '-'], 9], [['*', '/', '%'], 10],
];
const PRECEDENCE = new Map(BINARY.flatMap(([ops, p]) => ops.map((o) => [o, p] as [string, number])));

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly toks: string[], private readonly ctx: EvalContext) {}

  parse(): Value {
    const v = this.binary(1);
    if (this.pos < this.toks.length) throw new EvalError(`unexpected "${this.toks[this.pos]}"`);
    return v;
  }

  private peek(): string | undefined {
    return this.toks[this.pos];
  }

  private take(expected?: string): string {
    const t = this.toks[this.pos];
    if (t === undefined) throw new EvalError(expected ? `expected "${expected}" at the end` : 'unexpected end of expression');
    if (expected !== undefined && t !== expected) throw new EvalError(`expected "${expected}", found "${t}"`);
    this.pos++;
    return t;
  }

  private binary(minPrec: number): Value {
    let left = this.unary();
    for (;;) {
      const op = this.peek();
      const prec = op !== undefined ? PRECEDENCE.get(op) : undefined;
      if (prec === undefined || prec < minPrec) return left;
      this.pos++;
      const right = this.binary(prec + 1);
      left = { value: applyBinary(op as string, this.rvalue(left), this.rvalue(right)), type: U64 };
    }
  }

  /** The number a value stands for (a struct's is its address). */
  private rvalue(v: Value): bigint {
    return v.value;
  }

  private unary(): Value {
    if (++this.depth > MAX_NESTING) throw new EvalError(`expression nested more than ${MAX_NESTING} deep`);
    try {
      return this.unaryOrPostfix();
    } finally {
      this.depth--;
    }
  }

  private unaryOrPostfix(): Value {
    const t = this.peek();
    if (t === '-' || t === '+' || t === '~' || t === '!') {
      this.pos++;
      const v = this.unary().value;
      const r = t === '-' ? -v : t === '+' ? v : t === '~' ? ~v : v === 0n ? 1n : 0n;
      return { value: BigInt.asUintN(64, r), type: U64 };
    }
    if (t === '*') {
      this.pos++;
      return this.deref(this.unary());
    }
    if (t === '&') {
      this.pos++;
      const v = this.unary();
      if (v.address === undefined) throw new EvalError('& needs something in memory');
      return { value: v.address, type: { kind: 'ptr', to: v.type } };
    }
    if (t === '(' && TYPE_WORDS.has(this.toks[this.pos + 1] ?? '')) {
      this.pos++;
      const type = this.typeName();
      this.take(')');
      return this.cast(this.unary(), type);
    }
    return this.postfix(this.primary());
  }

  private typeName(): CType {
    const words: string[] = [];
    while (this.peek() !== undefined && this.peek() !== '*' && this.peek() !== ')') words.push(this.take());
    let stars = 0;
    while (this.peek() === '*') { this.pos++; stars++; }
    let base: CType;
    const w = words.join(' ');
    const m = /^(?:u|uint|s|int)(8|16|32|64)(?:_t)?$/.exec(w);
    if (m) base = int(Number(m[1]) / 8, w.startsWith('s') || w.startsWith('int'));
    else if (words[0] === 'struct' && words[1] && own(STRUCTS, words[1])) base = { kind: 'struct', name: words[1] };
    else if (/^(unsigned |signed )?char$/.test(w)) base = int(1, !w.startsWith('unsigned'));
    else if (/^(unsigned |signed )?short$/.test(w)) base = int(2, !w.startsWith('unsigned'));
    else if (/^(unsigned |signed )?int$|^unsigned$/.test(w)) base = int(4, !w.startsWith('unsigned'));
    else if (/^(unsigned |signed )?long( long)?$/.test(w)) base = int(8, !w.startsWith('unsigned'));
    else if (w === 'void') base = int(1);
    else throw new EvalError(`unknown type "${w}"`);
    for (let i = 0; i < stars; i++) base = { kind: 'ptr', to: base };
    return base;
  }

  private cast(v: Value, type: CType): Value {
    if (type.kind === 'int') return { value: truncate(v.value, type), type };
    return { value: v.value, type };
  }

  private deref(p: Value): Value {
    const to: CType = p.type.kind === 'ptr' ? p.type.to : U64;
    return this.load(p.value, to);
  }

  /** The value of type `type` at `address` (structs and arrays are their address). */
  private load(address: bigint, type: CType, description?: string): Value {
    if (type.kind !== 'int' && type.kind !== 'ptr') return { value: address, type, address, description };
    const size = type.kind === 'int' ? type.size : 8;
    const r = this.ctx.read(address, size);
    if (typeof r === 'string') throw new EvalError(r, this.pos >= this.toks.length ? { address, size } : undefined);
    return { value: type.kind === 'int' ? truncate(r, type) : r, type, address, description };
  }

  private postfix(v: Value): Value {
    for (;;) {
      const t = this.peek();
      if (t === '.' || t === '->') {
        this.pos++;
        const name = this.take();
        let base = v;
        if (t === '->') {
          if (v.type.kind !== 'ptr') throw new EvalError(`-> needs a pointer (before "${name}")`);
          base = { value: v.value, type: v.type.to, address: v.value };
        }
        if (base.type.kind !== 'struct' || base.address === undefined) throw new EvalError(`"${name}": not a struct member access`);
        const structName = base.type.name;
        const member = own(STRUCTS, structName)?.find((m) => m.name === name);
        if (!member) throw new EvalError(`struct ${structName} has no field "${name}" (fields: ${own(STRUCTS, structName)?.map((m) => m.name).join(', ')})`);
        v = this.load(base.address + BigInt(member.offset), member.type, member.doc);
      } else if (t === '[') {
        this.pos++;
        const index = this.binary(1).value;
        this.take(']');
        const elem: CType = v.type.kind === 'array' ? v.type.of : v.type.kind === 'ptr' ? v.type.to : U64;
        const base = v.type.kind === 'array' ? (v.address as bigint) : v.value;
        v = this.load(base + index * BigInt(sizeOf(elem)), elem);
      } else return v;
    }
  }

  private primary(): Value {
    const t = this.take();
    if (t === '(') {
      const v = this.binary(1);
      this.take(')');
      return v;
    }
    if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return { value: BigInt(t), type: U64 };
    if ((t === 'this_cpu' || t === 'per_cpu' || t === 'this_cpu_read') && this.peek() === '(') {
      this.take('(');
      const name = this.take();
      this.take(')');
      const pc = this.ctx.perCpu(name);
      if (!pc) throw new EvalError(`no per-CPU variable "${name}"`);
      const structName = own(PER_CPU_TYPES, name);
      const type: CType = structName ? { kind: 'struct', name: structName } : [1, 2, 4, 8].includes(pc.size) ? int(pc.size) : { kind: 'struct', name };
      return this.load(pc.address, type);
    }
    if (t === 'regs') {
      const base = this.ctx.ptRegsBase();
      if (base === undefined) throw new EvalError('no pt_regs frame yet');
      return { value: base, type: { kind: 'ptr', to: { kind: 'struct', name: 'pt_regs' } } };
    }
    const s = this.ctx.state;
    const reg = t.replace(/^[$%]/, '').toLowerCase();
    const gpr = (GPR_NAMES as readonly string[]).indexOf(reg);
    if (gpr >= 0) return { value: s.gpr[gpr], type: U64 };
    const sub = own(SUB_REGISTERS, reg);
    if (sub) {
      const [i, size] = sub;
      return { value: truncate(s.gpr[i], int(size)), type: int(size) };
    }
    if (reg === 'rip') return { value: s.rip, type: U64 };
    if (reg === 'rflags' || reg === 'eflags') return { value: s.rflags, type: U64 };
    if (reg === 'cpl') return { value: BigInt(s.cpl), type: U64 };
    if (/^cr[02348]$/.test(reg)) return { value: s[reg as 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8'], type: U64 };
    if (['cs', 'ss', 'ds', 'es', 'fs', 'gs'].includes(reg)) return { value: BigInt(s.seg[reg as 'cs'].selector), type: int(2) };
    if (reg === 'fs_base' || reg === 'gs_base') return { value: s.seg[reg === 'fs_base' ? 'fs' : 'gs'].base, type: U64 };
    const msr = MSR_TABLE.find((m) => m.name === t || m.linuxName === t);
    if (msr) {
      const value = msr.number === MSR.GS_BASE ? s.seg.gs.base : msr.number === MSR.FS_BASE ? s.seg.fs.base : s.msrs.get(msr.number);
      if (value === undefined) throw new EvalError(`MSR ${msr.name} has not been written`);
      return { value, type: U64, description: msr.doc };
    }
    const sym = this.ctx.symbol(t);
    if (sym !== undefined) return { value: sym, type: U64 };
    const pc = this.ctx.perCpu(t);
    if (pc) return { value: pc.address, type: U64, description: `address of per-CPU ${t}; this_cpu(${t}) is its value` };
    throw new EvalError(`unknown name "${t}"`);
  }
}

function sizeOf(t: CType): number {
  switch (t.kind) {
    case 'int': return t.size;
    case 'ptr': return 8;
    case 'array': return sizeOf(t.of) * t.length;
    case 'struct': return 8;
  }
}

function truncate(v: bigint, t: IntType): bigint {
  const bits = t.size * 8;
  return t.signed ? BigInt.asUintN(64, BigInt.asIntN(bits, v)) : BigInt.asUintN(bits, v);
}

function applyBinary(op: string, a: bigint, b: bigint): bigint {
  const bool = (x: boolean): bigint => (x ? 1n : 0n);
  switch (op) {
    case '+': return BigInt.asUintN(64, a + b);
    case '-': return BigInt.asUintN(64, a - b);
    case '*': return BigInt.asUintN(64, a * b);
    case '/': if (b === 0n) throw new EvalError('division by zero'); return a / b;
    case '%': if (b === 0n) throw new EvalError('division by zero'); return a % b;
    case '&': return a & b;
    case '|': return a | b;
    case '^': return a ^ b;
    case '<<': return BigInt.asUintN(64, a << (b & 63n));
    case '>>': return a >> (b & 63n);
    case '==': return bool(a === b);
    case '!=': return bool(a !== b);
    case '<': return bool(a < b);
    case '<=': return bool(a <= b);
    case '>': return bool(a > b);
    case '>=': return bool(a >= b);
    case '&&': return bool(a !== 0n && b !== 0n);
    case '||': return bool(a !== 0n || b !== 0n);
  }
  throw new EvalError(`unknown operator ${op}`);
}

export function evaluate(ctx: EvalContext, expression: string): EvalResult {
  if (!expression.trim()) return { error: 'empty expression' };
  try {
    const v = new Parser(tokenize(expression), ctx).parse();
    const size = v.type.kind === 'int' ? v.type.size : v.type.kind === 'ptr' ? 8 : undefined;
    return { value: BigInt.asUintN(64, v.value), description: v.description, address: v.address, size: v.address !== undefined ? size : undefined };
  } catch (e) {
    if (e instanceof EvalError) return e.where ? { error: e.message, ...e.where } : { error: e.message };
    return { error: `internal error: ${(e as Error).message}` };
  }
}
