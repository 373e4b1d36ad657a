/**
 * apply_alternatives() of Linux 5.8 (arch/x86/kernel/alternative.c), for kentry's kernel
 * image: walk the `.altinstructions` records, and for each one whose feature the booted CPU
 * has, copy the replacement over the original, fix the displacement of a leading call/jmp,
 * and fill the rest with the ideal NOPs; records whose feature is missing only get their
 * 0x90 padding turned into long NOPs (optimize_nops).
 */
import type { LinkedImage, SourceLoc } from '../asm/types';
import { readLE, writeLE } from '../machine/memory';
import { featureName, type KernelProfile } from './profiles';

/** struct alt_instr of v5.8 (packed, 13 bytes): s32 instr_offset, s32 repl_offset, u16 cpuid, u8 instrlen, u8 replacementlen, u8 padlen. */
export const ALT_INSTR_SIZE = 13; // packed: 4 + 4 + 2 + 1 + 1 + 1

export interface AltInstrRecord {
  /** Address of the record itself in .altinstructions. */
  recordAddress: bigint;
  instrAddress: bigint;
  replacementAddress: bigint;
  cpuid: number;
  instrlen: number;
  replacementlen: number;
  padlen: number;
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

export function parseAltInstructions(image: LinkedImage): AltInstrRecord[] {
  const seg = image.segments.find((s) => s.name === '.altinstructions');
  if (!seg) return [];
  const out: AltInstrRecord[] = [];
  for (let o = 0; o + ALT_INSTR_SIZE <= seg.bytes.length; o += ALT_INSTR_SIZE) {
    const at = seg.address + BigInt(o);
    const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
    out.push({
      recordAddress: at,
      instrAddress: at + s32(readLE(seg.bytes, 4, o)),
      replacementAddress: at + 4n + s32(readLE(seg.bytes, 4, o + 4)),
      cpuid: Number(readLE(seg.bytes, 2, o + 8)),
      instrlen: seg.bytes[o + 10],
      replacementlen: seg.bytes[o + 11],
      padlen: seg.bytes[o + 12],
    });
  }
  return out;
}

/** The P6 NOPs of <asm/nops.h>, by length 1..8 (ASM_NOP_MAX). */
export const P6_NOPS: readonly (readonly number[])[] = [
  [],
  [0x90],
  [0x66, 0x90],
  [0x0f, 0x1f, 0x00],
  [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
  [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

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
  for (const rec of parseAltInstructions(image)) {
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
    const alternativeAt = line ? [...line.stack].reverse().find((f) => /^ALTERNATIVE(_2)?$/.test(f.name))?.loc : undefined;
    const present = reasons.features.has(feature);
    const buf = before.slice();
    if (!present) {
      // optimize_nops() of 5.8 checks the first padlen bytes of the site, then pads the tail.
      if (rec.padlen > 1 && before.subarray(0, rec.padlen).every((b) => b === 0x90)) {
        addNops(buf, rec.instrlen - rec.padlen, rec.padlen);
      }
    } else {
      const repl = read(rec.replacementAddress, rec.replacementlen);
      const insn = new Uint8Array(Math.max(rec.instrlen, rec.replacementlen));
      insn.set(repl, 0);
      if (rec.replacementlen === 5 && insn[0] === 0xe8) {
        const d = BigInt.asIntN(32, readLE(insn, 4, 1)) + (rec.replacementAddress - rec.instrAddress);
        insn.set(writeLE(d, 4), 1);
      }
      if (rec.replacementlen && isJmp(repl[0])) recomputeJump(rec, insn);
      if (rec.instrlen > rec.replacementlen) addNops(insn, rec.replacementlen, rec.instrlen - rec.replacementlen);
      buf.set(insn.subarray(0, rec.instrlen));
    }
    write(rec.instrAddress, buf);
    out.push({
      ...rec,
      feature,
      applied: present,
      reason: reasons.why(feature, present),
      before,
      after: buf,
      loc,
      alternativeAt,
    });
  }
  return out;
}
