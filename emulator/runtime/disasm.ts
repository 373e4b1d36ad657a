/** Decode one instruction at a virtual address for display (mnemonic, bytes, AT&T text). */
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from 'iced-x86';
import type { Machine } from '../machine/machine';

export interface DecodedForDisplay {
  mnemonic: string;
  text: string;
  bytes: Uint8Array;
  length: number;
}

let formatter: Formatter | undefined;

export function decodeOne(machine: Machine, address: bigint, _half?: 'user' | 'kernel'): DecodedForDisplay | undefined {
  const raw = machine.readVirtual(address, 15);
  if (!(raw instanceof Uint8Array)) return undefined;
  const decoder = new Decoder(64, raw, DecoderOptions.None);
  decoder.ip = address;
  const insn = decoder.decode();
  try {
    if (insn.isInvalid) return undefined;
    formatter ??= new Formatter(FormatterSyntax.Gas);
    const text = formatter.format(insn);
    return { mnemonic: text.split(/\s+/)[0], text, bytes: raw.slice(0, insn.length), length: insn.length };
  } finally {
    insn.free();
    decoder.free();
  }
}

/** One row of the Disassembly view. */
export interface DisassembledLine {
  address: bigint;
  bytes: Uint8Array;
  text: string;
  symbol?: string;
  loc?: import('../asm/types').SourceLoc;
}

/**
 * `count` instructions starting `instructionOffset` instructions away from `address`. Going
 * backwards on x86 needs known instruction boundaries: the line table gives them for assembled
 * code; elsewhere the rows before are placeholders (as gdb and VS Code do).
 */
export function disassembleAround(
  machine: Machine, rows: readonly { address: bigint; size: number }[], address: bigint, instructionOffset: number, count: number,
): DisassembledLine[] {
  const out: DisassembledLine[] = [];
  let start = address;
  if (instructionOffset < 0) {
    const want = -instructionOffset;
    let i = lowerBound(rows, address);
    const before: bigint[] = [];
    let next = address;
    while (before.length < want && i > 0 && rows[i - 1].address + BigInt(rows[i - 1].size) === next) {
      i--;
      next = rows[i].address;
      before.unshift(next);
    }
    const missing = want - before.length;
    const first = before[0] ?? address;
    for (let k = missing; k > 0; k--) out.push({ address: BigInt.asUintN(64, first - BigInt(k)), bytes: new Uint8Array(0), text: '(unknown)' });
    for (const a of before) out.push(decodeRow(machine, a));
  } else {
    for (let k = 0; k < instructionOffset; k++) start += BigInt(decodeRow(machine, start).bytes.length || 1);
  }
  let a = start;
  while (out.length < count) {
    const row = decodeRow(machine, a);
    out.push(row);
    a = BigInt.asUintN(64, a + BigInt(row.bytes.length || 1));
  }
  return out.slice(0, count);
}

function decodeRow(machine: Machine, address: bigint): DisassembledLine {
  const d = decodeOne(machine, address);
  return d ? { address, bytes: d.bytes, text: d.text } : { address, bytes: new Uint8Array(0), text: '(not mapped, or not an instruction)' };
}

function lowerBound(rows: readonly { address: bigint }[], address: bigint): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].address < address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
