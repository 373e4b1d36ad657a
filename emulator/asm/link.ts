/**
 * A small static linker: places the objects' sections at fixed addresses (same-named sections
 * concatenated in object order, each part aligned), resolves relocations against the objects'
 * symbols and then the layout's externs, and turns the line tables into absolute addresses.
 */
import type { Diagnostic, LineEntry, LinkedImage, LinkedLine, LinkLayout, ObjectImage, Relocation, Segment } from './types';
import { writeLE } from './x86-encode';

interface Placed {
  name: string;
  flags: string;
  align: number;
  address: bigint;
  size: number;
  /** Where each object's piece of this section starts. */
  parts: Map<number, { address: bigint; offset: number }>;
}

const alignUp = (v: bigint, a: number): bigint => (a > 1 ? ((v + BigInt(a) - 1n) / BigInt(a)) * BigInt(a) : v);

export function link(objects: ObjectImage[], layout: LinkLayout): LinkedImage {
  try {
    return linkObjects(objects, layout);
  } catch (e) {
    const loc = objects[0]?.lines[0]?.loc ?? { file: '', line: 0 };
    return { segments: [], symbols: new Map(), lines: [], diagnostics: [{ severity: 'error', message: `internal linker error: ${(e as Error).message}`, loc, stack: [] }] };
  }
}

function linkObjects(objects: ObjectImage[], layout: LinkLayout): LinkedImage {
  const diagnostics: Diagnostic[] = [];
  const placed = new Map<string, Placed>();
  // Merge same-named sections in object order.
  objects.forEach((o, i) => {
    for (const s of o.sections.values()) {
      let p = placed.get(s.name);
      if (!p) placed.set(s.name, (p = { name: s.name, flags: s.flags, align: 1, address: 0n, size: 0, parts: new Map() }));
      const a = Math.max(1, s.align);
      const off = Number(alignUp(BigInt(p.size), a));
      p.parts.set(i, { address: 0n, offset: off });
      p.size = off + s.bytes.length;
      p.align = Math.max(p.align, a);
    }
  });
  // Addresses: listed sections at their bases, the rest after the previous one.
  let next: bigint | undefined;
  for (const p of placed.values()) {
    const base = layout.sectionBases[p.name];
    if (base !== undefined) p.address = base;
    else p.address = alignUp(next ?? layout.defaultBase ?? 0n, Math.max(p.align, layout.sectionAlign ?? 1));
    next = p.address + BigInt(p.size);
    for (const part of p.parts.values()) part.address = p.address + BigInt(part.offset);
  }
  const partAddr = (obj: number, section: string): bigint | undefined => placed.get(section)?.parts.get(obj)?.address;
  // Symbols: globals are shared, locals are per object.
  const globals = new Map<string, bigint>();
  const symbols = new Map<string, bigint>();
  const locals: Map<string, bigint>[] = objects.map(() => new Map());
  objects.forEach((o, i) => {
    for (const s of o.symbols.values()) {
      const addr = s.section === undefined ? s.value : (partAddr(i, s.section) ?? 0n) + s.value;
      locals[i].set(s.name, addr);
      if (s.global) {
        if (globals.has(s.name)) diagnostics.push({ severity: 'error', message: `multiple definition of \`${s.name}'`, loc: s.loc ?? { file: '', line: 0 }, stack: [] });
        else globals.set(s.name, addr);
      }
    }
  });
  for (const [k, v] of globals) symbols.set(k, v);
  for (const l of locals) for (const [k, v] of l) if (!symbols.has(k)) symbols.set(k, v);
  // Section contents and relocations.
  const contents = new Map<string, Uint8Array>();
  for (const p of placed.values()) contents.set(p.name, new Uint8Array(p.size));
  objects.forEach((o, i) => {
    for (const s of o.sections.values()) {
      const part = placed.get(s.name)!.parts.get(i)!;
      contents.get(s.name)!.set(s.bytes, part.offset);
    }
    for (const r of o.relocations) applyReloc(o, i, r);
  });

  function lineFor(o: ObjectImage, r: Relocation): LineEntry | undefined {
    return o.lines.find((l) => l.section === r.section && r.offset >= l.offset && r.offset < l.offset + l.size);
  }

  function applyReloc(o: ObjectImage, i: number, r: Relocation): void {
    const part = placed.get(r.section)?.parts.get(i);
    if (!part) return;
    let S: bigint | undefined;
    if (o.sections.has(r.symbol) && !o.symbols.has(r.symbol)) S = partAddr(i, r.symbol);
    else S = (o.symbols.get(r.symbol)?.global === false ? locals[i].get(r.symbol) : undefined) ?? globals.get(r.symbol) ?? layout.externs.get(r.symbol);
    const line = lineFor(o, r);
    const diag = (message: string): void => {
      diagnostics.push({ severity: 'error', message, loc: line?.loc ?? { file: '', line: 0 }, stack: line?.stack ?? [] });
    };
    if (S === undefined) {
      diag(`undefined reference to \`${r.symbol}'`);
      return;
    }
    const P = part.address + BigInt(r.offset);
    const bytes = contents.get(r.section)!;
    const at = part.offset + r.offset;
    let v: bigint;
    let size: number;
    let lo: bigint;
    let hi: bigint;
    switch (r.kind) {
      case 'R_X86_64_64': v = S + r.addend; size = 8; lo = -(1n << 63n); hi = (1n << 64n) - 1n; break;
      case 'R_X86_64_32': v = S + r.addend; size = 4; lo = 0n; hi = (1n << 32n) - 1n; break;
      case 'R_X86_64_32S': v = S + r.addend; size = 4; lo = -(1n << 31n); hi = (1n << 31n) - 1n; break;
      case 'R_X86_64_PC32':
      case 'R_X86_64_PLT32': v = S + r.addend - P; size = 4; lo = -(1n << 31n); hi = (1n << 31n) - 1n; break;
      case 'R_X86_64_16': v = S + r.addend; size = 2; lo = -(1n << 15n); hi = (1n << 16n) - 1n; break;
      case 'R_X86_64_8': v = S + r.addend; size = 1; lo = -128n; hi = 255n; break;
      case 'R_X86_64_PC8': v = S + r.addend - P; size = 1; lo = -128n; hi = 127n; break;
    }
    // Addresses are 64-bit: compare as signed for the sign-extended kinds.
    const sv = r.kind === 'R_X86_64_32' || r.kind === 'R_X86_64_64' ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
    if (r.kind !== 'R_X86_64_64' && (sv < lo || sv > hi)) diag(`relocation ${r.kind} against \`${r.symbol}' out of range (0x${BigInt.asUintN(64, v).toString(16)})`);
    writeLE(bytes, at, size, v);
  }

  const segments: Segment[] = [...placed.values()].map((p) => ({ name: p.name, address: p.address, bytes: contents.get(p.name)!, flags: p.flags }));
  const lines: LinkedLine[] = [];
  objects.forEach((o, i) => {
    for (const l of o.lines) {
      const a = partAddr(i, l.section);
      if (a !== undefined) lines.push({ ...l, address: a + BigInt(l.offset) });
    }
  });
  lines.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { segments, symbols, lines, diagnostics };
}
