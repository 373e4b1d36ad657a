/**
 * Hand-built tiny machines for CPU tests: page tables, a Linux-layout GDT, TSS, IDT and MSRs,
 * with code assembled by GNU as at test time (AT&T syntax, so tests read like entry_64.S).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CPU_PROFILES, type CpuProfile } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { MSR } from '../../../emulator/machine/facts/msrs';
import { PTE } from '../../../emulator/machine/facts/paging';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { flatSegment, FLAT_CODE64_ATTRS, FLAT_DATA_ATTRS } from '../../../emulator/cpu/descriptors';

const asmCache = new Map<string, Uint8Array>();
let tmpDir: string | undefined;

/** Assemble AT&T x86-64 source to flat bytes (section .text, origin 0). */
export function asm(source: string): Uint8Array {
  const hit = asmCache.get(source);
  if (hit) return hit;
  tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-cpu-'));
  const s = path.join(tmpDir, 'x.s');
  const o = path.join(tmpDir, 'x.o');
  const b = path.join(tmpDir, 'x.bin');
  fs.writeFileSync(s, `.text\n${source}\n`);
  execFileSync('as', ['--64', '-o', o, s]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', o, b]);
  const bytes = new Uint8Array(fs.readFileSync(b));
  asmCache.set(source, bytes);
  return bytes;
}

export interface MapFlags {
  user?: boolean;
  writable?: boolean;
  nx?: boolean;
  global?: boolean;
}

/** A bump allocator of zeroed 4 KiB page-table frames plus a 4-level (or 5-level) mapper. */
export class PageTables {
  private next: bigint;
  readonly root: bigint;
  constructor(private readonly m: Machine, firstFrame: bigint, readonly levels: 4 | 5 = 4) {
    this.next = firstFrame;
    this.root = this.alloc();
  }

  alloc(): bigint {
    const f = this.next;
    this.next += 0x1000n;
    this.m.mem.write(f, new Uint8Array(4096));
    return f;
  }

  /** Map one 4 KiB page. Intermediate entries are P|RW|US so the leaf decides. */
  map(linear: bigint, phys: bigint, flags: MapFlags = {}): void {
    let table = this.root;
    for (let level = this.levels; level > 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const e = table + ((linear >> shift) & 0x1ffn) * 8n;
      let v = this.m.mem.readU64(e);
      if (!(v & PTE.P)) {
        v = this.alloc() | PTE.P | PTE.RW | PTE.US;
        this.m.mem.writeU64(e, v);
      }
      table = v & PTE.ADDR_MASK;
    }
    let leaf = (phys & PTE.ADDR_MASK) | PTE.P;
    if (flags.user) leaf |= PTE.US;
    if (flags.writable ?? true) leaf |= PTE.RW;
    if (flags.nx) leaf |= PTE.NX;
    if (flags.global) leaf |= PTE.G;
    this.m.mem.writeU64(table + ((linear >> 12n) & 0x1ffn) * 8n, leaf);
  }

  /** Physical address of the PTE for `linear` (4 KiB mappings only). */
  pteAddress(linear: bigint): bigint {
    let table = this.root;
    for (let level = this.levels; level > 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      table = this.m.mem.readU64(table + ((linear >> shift) & 0x1ffn) * 8n) & PTE.ADDR_MASK;
    }
    return table + ((linear >> 12n) & 0x1ffn) * 8n;
  }
}

export const USER_CODE = 0x400000n;
export const USER_STACK_TOP = 0x7ffffff000n;
export const KERNEL_CODE = 0xffffffff81000000n;
export const KERNEL_DATA = 0xffffffff82000000n; // GDT, IDT, TSS, per-CPU area
export const KERNEL_STACK_TOP = 0xffffc90000004000n;
export const GDT = KERNEL_DATA;
export const IDT = KERNEL_DATA + 0x1000n;
export const TSS = KERNEL_DATA + 0x2000n;
export const PERCPU = KERNEL_DATA + 0x3000n;
export const USER_GS_BASE = 0x7f0000001000n;

/** Linux's syscall_init(): STAR = __USER32_CS << 48 | __KERNEL_CS << 32. */
export const LINUX_STAR = (BigInt(SELECTOR.__USER32_CS) << 48n) | (BigInt(SELECTOR.__KERNEL_CS) << 32n);
/** Linux's SYSCALL_MASK: TF DF IF IOPL AC NT. */
export const LINUX_FMASK = 0x47700n;

function codeDesc(dpl: number, long: boolean): bigint {
  // base 0, limit 0xfffff, G, P, S, type 0xb; L for 64-bit code, D/B for 32-bit.
  const access = 0x9bn | (BigInt(dpl) << 5n);
  const flags = long ? 0xan : 0xcn;
  return 0xffffn | (access << 40n) | (0xfn << 48n) | (flags << 52n);
}
function dataDesc(dpl: number): bigint {
  const access = 0x93n | (BigInt(dpl) << 5n);
  return 0xffffn | (access << 40n) | (0xfn << 48n) | (0xcn << 52n);
}

export interface TestMachineOptions {
  profile?: CpuProfile;
  levels?: 4 | 5;
  kernel?: string;
  user?: string;
  cr4Extra?: bigint;
}

/**
 * A machine like a booted Linux: kernel text (global, supervisor) at KERNEL_CODE, user text and
 * stack below 0x800000000000, GDT with Linux's layout, TSS, per-CPU page, SYSCALL MSRs set,
 * CR4 with PAE PGE SMEP SMAP (and PCIDE when the profile has PCID), CPL 3 at USER_CODE.
 */
export function testMachine(opts: TestMachineOptions = {}): { m: Machine; pt: PageTables } {
  const profile = opts.profile ?? CPU_PROFILES.intel;
  const m = new Machine(profile);
  const pt = new PageTables(m, 0x100000n, opts.levels ?? 4);
  const s = m.state;
  // Physical layout: kernel code 0x200000, user code 0x300000, user stack 0x310000, kernel data 0x400000.., kernel stack 0x500000..
  for (let i = 0n; i < 4n; i++) pt.map(KERNEL_CODE + i * 0x1000n, 0x200000n + i * 0x1000n, { writable: false, global: true });
  for (let i = 0n; i < 4n; i++) pt.map(USER_CODE + i * 0x1000n, 0x300000n + i * 0x1000n, { user: true, writable: false });
  pt.map(USER_STACK_TOP - 0x1000n, 0x310000n, { user: true, nx: true });
  pt.map(USER_GS_BASE, 0x311000n, { user: true, nx: true });
  for (let i = 0n; i < 8n; i++) pt.map(KERNEL_DATA + i * 0x1000n, 0x400000n + i * 0x1000n, { nx: true, global: true });
  for (let i = 0n; i < 4n; i++) pt.map(KERNEL_STACK_TOP - 0x4000n + i * 0x1000n, 0x500000n + i * 0x1000n, { nx: true });
  if (opts.kernel) m.mem.write(0x200000n, asm(opts.kernel));
  if (opts.user) m.mem.write(0x300000n, asm(opts.user));
  // GDT (Linux order, see facts/segments.ts).
  const gdt = [0n, codeDesc(0, false), codeDesc(0, true), dataDesc(0), codeDesc(3, false), dataDesc(3), codeDesc(3, true), 0n];
  gdt.forEach((d, i) => m.mem.writeU64(0x400000n + BigInt(i * 8), d));
  // 64-bit TSS descriptor (type 9) at entry 8.
  const tssBase = TSS;
  const tssLo = 0x67n | ((tssBase & 0xffffffn) << 16n) | (0x89n << 40n) | (((tssBase >> 24n) & 0xffn) << 56n);
  m.mem.writeU64(0x400000n + 64n, tssLo);
  m.mem.writeU64(0x400000n + 72n, (tssBase >> 32n) & 0xffffffffn);
  s.gdtr = { base: GDT, limit: 16 * 8 - 1 };
  s.tr = { selector: SELECTOR.TSS, base: TSS, limit: 0x67, attrs: 0x8b };
  m.mem.writeU64(0x402000n + 4n, KERNEL_STACK_TOP); // TSS.sp0
  s.cr3 = pt.root;
  s.cr0 = 0x80050033n; // PG WP NE ET MP PE
  let cr4 = (1n << 5n) | (1n << 7n) | (1n << 20n) | (1n << 21n) | (1n << 16n); // PAE PGE SMEP SMAP FSGSBASE
  if (profile.features.has('PCID')) cr4 |= 1n << 17n;
  if (opts.levels === 5) cr4 |= 1n << 12n;
  s.cr4 = cr4 | (opts.cr4Extra ?? 0n);
  s.msrs.set(MSR.EFER, 1n | (1n << 8n) | (1n << 10n) | (1n << 11n)); // SCE LME LMA NXE
  s.msrs.set(MSR.STAR, LINUX_STAR);
  s.msrs.set(MSR.LSTAR, KERNEL_CODE);
  s.msrs.set(MSR.SYSCALL_MASK, LINUX_FMASK);
  s.msrs.set(MSR.KERNEL_GS_BASE, PERCPU);
  // Start in user mode.
  s.seg.cs = flatSegment(SELECTOR.__USER_CS, FLAT_CODE64_ATTRS, 3);
  s.seg.ss = flatSegment(SELECTOR.__USER_DS, FLAT_DATA_ATTRS, 3);
  s.seg.gs = { selector: 0, base: USER_GS_BASE, limit: 0, attrs: 0 };
  s.cpl = 3;
  s.rip = USER_CODE;
  s.gpr[4] = USER_STACK_TOP - 0x100n;
  s.rflags = 0x246n;
  return { m, pt };
}

/** Step until `n` instructions ran or something other than 'ok' happened. */
export function run(m: Machine, n: number): ReturnType<Machine['step']> {
  let r: ReturnType<Machine['step']> = { kind: 'ok' };
  for (let i = 0; i < n; i++) {
    r = m.step();
    if (r.kind !== 'ok') return r;
  }
  return r;
}

export function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** Put the machine at CPL 0 on the kernel stack, at KERNEL_CODE (as if an entry had happened). */
export function enterKernel(m: Machine): void {
  const s = m.state;
  s.seg.cs = flatSegment(SELECTOR.__KERNEL_CS, FLAT_CODE64_ATTRS, 0);
  s.seg.ss = flatSegment(SELECTOR.__KERNEL_DS, FLAT_DATA_ATTRS, 0);
  s.cpl = 0;
  s.rip = KERNEL_CODE;
  s.gpr[4] = KERNEL_STACK_TOP;
  s.rflags = 0x2n;
}

/**
 * Assemble many independent AT&T sources in one GNU as run (a property test makes thousands; one
 * process each would take minutes) and remember each result for asm(). Each source may use
 * `.L`-prefixed labels of its own: they are renamed per source here, and every jump or label a
 * source uses stays inside it, so its bytes are exactly what asm() alone would produce.
 */
export function asmMany(sources: readonly string[]): Uint8Array[] {
  const todo = [...new Set(sources.filter((s) => !asmCache.has(s)))];
  if (todo.length) {
    tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-cpu-'));
    const s = path.join(tmpDir, 'many.s');
    const o = path.join(tmpDir, 'many.o');
    const b = path.join(tmpDir, 'many.bin');
    // Each source starts at its own 16-byte-aligned start label and ends at an end label; nm gives the offsets.
    const parts = todo.map((src, i) => `.balign 16, 0xcc\nkentry_src${i}_start:\n${src.replace(/\.L/g, `.Lsrc${i}_`)}\nkentry_src${i}_end:\n`);
    fs.writeFileSync(s, `.text\n${parts.join('')}`);
    execFileSync('as', ['--64', '-o', o, s]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', o, b]);
    const all = new Uint8Array(fs.readFileSync(b));
    const where = new Map<string, number>();
    for (const line of execFileSync('nm', [o], { maxBuffer: 64 << 20 }).toString().split('\n')) {
      const m = /^([0-9a-f]+) \w (kentry_src\d+_(?:start|end))$/.exec(line);
      if (m) where.set(m[2], parseInt(m[1], 16));
    }
    todo.forEach((src, i) => {
      const start = where.get(`kentry_src${i}_start`);
      const end = where.get(`kentry_src${i}_end`);
      if (start === undefined || end === undefined) throw new Error(`asmMany: no offsets for source ${i}`);
      asmCache.set(src, all.slice(start, end));
    });
  }
  return sources.map((src) => asm(src));
}
