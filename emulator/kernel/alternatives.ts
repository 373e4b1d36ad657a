/**
 * apply_alternatives() of Linux 5.8 (arch/x86/kernel/alternative.c), for kentry's kernel
 * image: walk the `.altinstructions` records, and for each one whose feature the booted CPU
 * has, copy the replacement over the original, fix the displacement of a leading call/jmp,
 * and fill the rest with the ideal NOPs; records whose feature is missing only get their
 * 0x90 padding turned into long NOPs (optimize_nops).
 */
import { Decoder, DecoderOptions, Mnemonic } from 'iced-x86';
import type { LinkedImage, SourceLoc } from '../asm/types';
import { readLE, writeLE } from '../machine/memory';
import { RECOMMENDED_NOPS } from '../machine/facts/nops';
import { featureName, type KernelProfile } from './profiles';

/** struct alt_instr of v5.8 (packed, 13 bytes): s32 instr_offset, s32 repl_offset, u16 cpuid, u8 instrlen, u8 replacementlen, u8 padlen. */
export const ALT_INSTR_SIZE = 13; // packed: 4 + 4 + 2 + 1 + 1 + 1

/**
 * struct alt_instr per version: 5.8 (13 bytes, padlen), 5.10-6.2 (12 bytes: no padlen; cpuid bit 15
 * = ALTINSTR_FLAG_INV), 6.3+ (14 bytes: u32 ft_flags = cpuid | flags << 16, ALT_FLAG_NOT = 1,
 * ALT_FLAG_DIRECT_CALL = 2).
 */
export const ALT_INSTR_SIZES: Record<KernelProfile['altInstr'], number> = { '5.8': 13, '6.1': 12, '6.3': 14 };

export interface AltInstrRecord {
  /** Address of the record itself in .altinstructions. */
  recordAddress: bigint;
  instrAddress: bigint;
  replacementAddress: bigint;
  cpuid: number;
  instrlen: number;
  replacementlen: number;
  padlen: number;
  /** Patch when the feature is ABSENT (6.1 ALTINSTR_FLAG_INV, 6.3+ ALT_NOT). */
  inverted?: boolean;
  /** 6.3+ flags (ALT_FLAG_*), 0 before. */
  flags?: number;
}

export interface AppliedAlternative extends AltInstrRecord {
  feature: string;
  applied: boolean;
  /** Why it was (not) applied, e.g. "X86_FEATURE_PTI: set by Linux because PAGE_TABLE_ISOLATION=y and intel CPUs are affected by Meltdown". */
  reason: string;
  before: Uint8Array;
  after: Uint8Array;
  /** The line of the file being debugged that produced the site (outermost macro use), when the line table knows it. */
  loc?: SourceLoc;
  /** Where ALTERNATIVE / ALTERNATIVE_2 itself was invoked (innermost such macro use), e.g. inside SWITCH_TO_KERNEL_CR3. */
  alternativeAt?: SourceLoc;
}

/** Bytes of the linked image at [address, address+length), or undefined if not all inside one segment. */
export function imageBytes(image: LinkedImage, address: bigint, length: number): Uint8Array | undefined {
  for (const s of image.segments) {
    const off = address - s.address;
    if (off >= 0n && off + BigInt(length) <= BigInt(s.bytes.length)) return s.bytes.slice(Number(off), Number(off) + length);
  }
  return undefined;
}

export function parseAltInstructions(image: LinkedImage, format: KernelProfile['altInstr'] = '5.8'): AltInstrRecord[] {
  const seg = image.segments.find((s) => s.name === '.altinstructions');
  if (!seg) return [];
  const size = ALT_INSTR_SIZES[format];
  const out: AltInstrRecord[] = [];
  for (let o = 0; o + size <= seg.bytes.length; o += size) {
    const at = seg.address + BigInt(o);
    const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
    const common = {
      recordAddress: at,
      instrAddress: at + s32(readLE(seg.bytes, 4, o)),
      replacementAddress: at + 4n + s32(readLE(seg.bytes, 4, o + 4)),
    };
    if (format === '5.8') {
      out.push({ ...common, cpuid: Number(readLE(seg.bytes, 2, o + 8)), instrlen: seg.bytes[o + 10], replacementlen: seg.bytes[o + 11], padlen: seg.bytes[o + 12] });
    } else if (format === '6.1') {
      const raw = Number(readLE(seg.bytes, 2, o + 8));
      out.push({ ...common, cpuid: raw & 0x7fff, inverted: (raw & 0x8000) !== 0, flags: 0, instrlen: seg.bytes[o + 10], replacementlen: seg.bytes[o + 11], padlen: 0 });
    } else {
      const ft = Number(readLE(seg.bytes, 4, o + 8));
      const flags = ft >>> 16;
      out.push({ ...common, cpuid: ft & 0xffff, flags, inverted: (flags & 1) !== 0, instrlen: seg.bytes[o + 12], replacementlen: seg.bytes[o + 13], padlen: 0 });
    }
  }
  return out;
}

interface DecodedInsn {
  length: number;
  /** insn_is_nop(): 0x90 (not pause) or 0f 1f (nopl/nopw). */
  nop: boolean;
  /** Relative branch/call: where its displacement sits and the target, both as offsets into the buffer. */
  rel?: { offset: number; size: 1 | 4; target: number };
  jmp32: boolean;
}

/** One instruction at buf[at], decoded as the kernel's insn decoder would (iced-x86 here). */
function decodeAt(buf: Uint8Array, at: number): DecodedInsn | undefined {
  const bytes = buf.subarray(at, Math.min(buf.length, at + 15));
  if (!bytes.length) return undefined;
  const d = new Decoder(64, bytes, DecoderOptions.None);
  d.ip = BigInt(at);
  const insn = d.decode();
  try {
    if (insn.isInvalid || insn.length > bytes.length) return undefined;
    const short = insn.isJmpShort || insn.isJccShort;
    const near = insn.isJmpNear || insn.isJccNear || insn.isCallNear;
    const target = Number(BigInt.asIntN(64, insn.nearBranchTarget));
    return {
      length: insn.length,
      nop: insn.mnemonic === Mnemonic.Nop,
      rel: short ? { offset: insn.length - 1, size: 1, target } : near ? { offset: insn.length - 4, size: 4, target } : undefined,
      jmp32: bytes[0] === 0xe9,
    };
  } finally {
    insn.free();
    d.free();
  }
}

/** x86-64 NOPs of 6.x <asm/nops.h>: the P6 ones to 8 bytes, then CS/0x66-prefixed to 11 (6.1 stops at 8). */
const NOPS_6X: readonly (readonly number[])[] = [
  ...RECOMMENDED_NOPS.slice(0, 9),
  [0x2e, ...RECOMMENDED_NOPS[8]],
  [0x66, 0x2e, ...RECOMMENDED_NOPS[8]],
  [0x66, 0x66, 0x2e, ...RECOMMENDED_NOPS[8]],
];


/** The P6 NOPs of <asm/nops.h>, by length 1..8 (ASM_NOP_MAX). */
export const P6_NOPS: readonly (readonly number[])[] = RECOMMENDED_NOPS.slice(0, 9);

/** add_nops(): fill with the longest NOPs first. */
export function addNops(buf: Uint8Array, at: number, len: number): void {
  while (len > 0) {
    const n = Math.min(len, 8);
    buf.set(P6_NOPS[n], at);
    at += n;
    len -= n;
  }
}

const isJmp = (op: number): boolean => op === 0xeb || op === 0xe9;

/**
 * recompute_jump(): a 5-byte replacement `jmp rel32` is re-aimed from its out-of-line place to
 * the original site, and shortened to a 2-byte jmp when the target is in reach.
 */
function recomputeJump(rec: AltInstrRecord, buf: Uint8Array): number {
  if (rec.replacementlen !== 5) return rec.replacementlen;
  const oDispl = BigInt.asIntN(32, readLE(buf, 4, 1));
  const target = rec.replacementAddress + 5n + oDispl;
  const nDispl = target - rec.instrAddress;
  const twoByte = nDispl >= 0n ? nDispl - 2n <= 127n : nDispl - 2n >= -128n;
  if (twoByte) {
    buf[0] = 0xeb;
    buf[1] = Number(BigInt.asUintN(8, nDispl - 2n));
    addNops(buf, 2, 3);
  } else {
    buf[0] = 0xe9;
    buf.set(writeLE(nDispl - 5n, 4), 1);
  }
  return 5;
}

export interface FeatureReasons {
  /** Features the booted kernel considers present. */
  features: ReadonlySet<string>;
  /** Why each feature is present or absent (for the records' reasons). */
  why: (feature: string, present: boolean) => string;
}

/**
 * Apply every record in order (a later record for the same site wins, as with ALTERNATIVE_2).
 * `read`/`write` access kernel virtual memory (the loaded image).
 */
export function applyAlternatives(
  image: LinkedImage,
  profile: KernelProfile,
  reasons: FeatureReasons,
  read: (va: bigint, len: number) => Uint8Array,
  write: (va: bigint, bytes: Uint8Array) => void,
): AppliedAlternative[] {
  const out: AppliedAlternative[] = [];
  const records = parseAltInstructions(image, profile.altInstr);
  if (profile.altInstr === '6.3') {
    // 6.3+: records for the same site share the longest instrlen (ALTERNATIVE_2/3 nest).
    for (const a of records) for (const b of records) if (a.instrAddress === b.instrAddress) a.instrlen = b.instrlen = Math.max(a.instrlen, b.instrlen);
  }
  for (const rec of records) {
    const feature = featureName(profile, rec.cpuid) ?? `#${rec.cpuid}`;
    if (!imageBytes(image, rec.instrAddress, rec.instrlen) || !imageBytes(image, rec.replacementAddress, rec.replacementlen)) {
      // A corrupt record (hand-written .altinstructions?): leave the code alone and say why.
      const none = new Uint8Array(0);
      out.push({ ...rec, feature, applied: false, reason: `record at 0x${rec.recordAddress.toString(16)} points outside the kernel image; ignored`, before: none, after: none });
      continue;
    }
    const before = read(rec.instrAddress, rec.instrlen);
    const line = image.lines.find((l) => l.address === rec.instrAddress)
      ?? image.lines.find((l) => l.address <= rec.instrAddress && rec.instrAddress < l.address + BigInt(l.size));
    const loc = line ? (line.stack[0]?.loc ?? line.loc) : undefined;
    const alternativeAt = line ? [...line.stack].reverse().find((f) => /^ALTERNATIVE(_[23])?$/.test(f.name))?.loc : undefined;
    const present = reasons.features.has(feature);
    const patch = present !== Boolean(rec.inverted);
    const repl = read(rec.replacementAddress, rec.replacementlen);
    let buf: Uint8Array;
    let note = '';
    if (profile.altInstr === '5.8') buf = patch58(rec, before, repl, patch);
    else if (profile.altInstr === '6.1') buf = patch61(rec, before, repl, patch);
    else if (patch && (rec.flags ?? 0) & 2) {
      // ALT_FLAG_DIRECT_CALL (paravirt call sites): not modelled; the site keeps its original code.
      buf = before.slice();
      note = ' (ALT_FLAG_DIRECT_CALL: not modelled, original code kept)';
    } else buf = patch63(rec, before, repl, patch);
    write(rec.instrAddress, buf);
    const why = reasons.why(feature, present);
    out.push({
      ...rec,
      feature,
      applied: patch,
      reason: (rec.inverted ? `ALT_NOT(X86_FEATURE_${feature}): patched when the feature is absent; ${why}` : why) + note,
      before,
      after: buf,
      loc,
      alternativeAt,
    });
  }
  return out;
}

/** Replacement copied over the site, leading call fixed, recompute_jump() (5.8-6.2). Returns instrlen bytes, tail not yet filled. */
function copyReplacementOld(rec: AltInstrRecord, repl: Uint8Array): Uint8Array {
  const insn = new Uint8Array(Math.max(rec.instrlen, rec.replacementlen));
  insn.set(repl, 0);
  if (rec.replacementlen === 5 && insn[0] === 0xe8) {
    const d = BigInt.asIntN(32, readLE(insn, 4, 1)) + (rec.replacementAddress - rec.instrAddress);
    insn.set(writeLE(d, 4), 1);
  }
  if (rec.replacementlen && isJmp(repl[0])) recomputeJump(rec, insn);
  return insn;
}

/** 5.8: patch or only optimize the padding (padlen). */
function patch58(rec: AltInstrRecord, before: Uint8Array, repl: Uint8Array, patch: boolean): Uint8Array {
  const buf = before.slice();
  if (!patch) {
    // optimize_nops() of 5.8 checks the first padlen bytes of the site, then pads the tail.
    if (rec.padlen > 1 && before.subarray(0, rec.padlen).every((b) => b === 0x90)) addNops(buf, rec.instrlen - rec.padlen, rec.padlen);
    return buf;
  }
  const insn = copyReplacementOld(rec, repl);
  if (rec.instrlen > rec.replacementlen) addNops(insn, rec.replacementlen, rec.instrlen - rec.replacementlen);
  buf.set(insn.subarray(0, rec.instrlen));
  return buf;
}

/** 5.10-6.2: pad with 0x90, then optimize_nops() turns every run of single-byte NOPs into long ones (max 8). */
function patch61(rec: AltInstrRecord, before: Uint8Array, repl: Uint8Array, patch: boolean): Uint8Array {
  const buf = before.slice();
  if (patch) {
    const insn = copyReplacementOld(rec, repl);
    for (let i = rec.replacementlen; i < rec.instrlen; i++) insn[i] = 0x90;
    buf.set(insn.subarray(0, rec.instrlen));
  }
  for (let i = 0; i < rec.instrlen;) {
    const d = decodeAt(buf.subarray(0, rec.instrlen), i);
    if (!d) break;
    if (d.length === 1 && buf[i] === 0x90) {
      let n = 0;
      while (i + n < rec.instrlen && buf[i + n] === 0x90) n++;
      if (n > 1) addNops(buf, i, n);
      i += n;
    } else i += d.length;
  }
  return buf;
}

/** add_nop() of 6.x: one NOP up to 11 bytes, else a short/near jmp over int3 padding. */
function addNop6x(buf: Uint8Array, at: number, len: number): void {
  if (len <= 0) return;
  if (len < NOPS_6X.length) { buf.set(NOPS_6X[len], at); return; }
  let p = at;
  if (len < 128) { buf[p] = 0xeb; buf[p + 1] = len - 2; p += 2; } else { buf[p] = 0xe9; buf.set(writeLE(BigInt(len - 5), 4), p + 1); p += 5; }
  for (; p < at + len; p++) buf[p] = 0xcc;
}

/** optimize_nops() of 6.3+: every run of NOP instructions (not already the tail NOP) becomes one add_nop(). */
function optimizeNops6x(buf: Uint8Array, len: number): void {
  for (let i = 0, next: number; i < len; i = next) {
    const d = decodeAt(buf.subarray(0, len), i);
    if (!d) return;
    next = i + d.length;
    if (!d.nop) continue;
    if (next === len) return;
    for (let e = decodeAt(buf.subarray(0, len), next); next < len && e?.nop; e = decodeAt(buf.subarray(0, len), next)) next += e.length;
    addNop6x(buf, i, next - i);
  }
}

/** 6.3+: copy, pad with 0x90, __apply_relocation() (branches/RIP-relative leaving the replacement), optimize_nops(). */
function patch63(rec: AltInstrRecord, before: Uint8Array, repl: Uint8Array, patch: boolean): Uint8Array {
  const len = rec.instrlen;
  const buf = before.slice();
  if (patch) {
    buf.set(repl.subarray(0, Math.min(len, repl.length)));
    for (let i = rec.replacementlen; i < len; i++) buf[i] = 0x90;
    const diff = rec.replacementAddress - rec.instrAddress;
    const outside = (t: number): boolean => t < 0 || t > rec.replacementlen;
    for (let i = 0, next: number; i < len; i = next) {
      const d = decodeAt(buf.subarray(0, len), i);
      if (!d) break;
      next = i + d.length;
      if (d.rel) {
        const at = i + d.rel.offset;
        const imm = BigInt.asIntN(d.rel.size * 8, readLE(buf, d.rel.size, at));
        if (outside(d.rel.target)) buf.set(writeLE(imm + diff, d.rel.size), at);
        if (d.jmp32) {
          // Where possible, convert JMP.d32 into JMP.d8 (the rest int3).
          const short = BigInt.asIntN(32, imm + diff + 3n);
          if (short >= -128n && short <= 127n) {
            buf[i] = 0xeb;
            buf[i + 1] = Number(BigInt.asUintN(8, short));
            buf.fill(0xcc, i + 2, next);
          }
        }
      }
      const rip = ripDisplacement(buf.subarray(0, len), i);
      if (rip && outside(next + Number(rip.value))) buf.set(writeLE(rip.value + diff, 4), i + rip.offset);
    }
  }
  optimizeNops6x(buf, len);
  return buf;
}

/** A RIP-relative memory operand's disp32 (offset inside the instruction and value), if any. */
function ripDisplacement(buf: Uint8Array, at: number): { offset: number; value: bigint } | undefined {
  const bytes = buf.subarray(at, Math.min(buf.length, at + 15));
  const d = new Decoder(64, bytes, DecoderOptions.None);
  const insn = d.decode();
  try {
    if (insn.isInvalid || !insn.isIpRelMemoryOperand) return undefined;
    const c = d.getConstantOffsets(insn);
    return c.hasDisplacement ? { offset: c.displacementOffset, value: BigInt.asIntN(32, readLE(bytes, 4, c.displacementOffset)) } : undefined;
  } finally {
    insn.free();
    d.free();
  }
}
