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
