/**
 * apply_alternatives() of the 6.x families on hand-made images: the 6.1 record (12 bytes,
 * ALTINSTR_FLAG_INV in cpuid bit 15, 0x90 padding turned into long NOPs) and the 6.3+ record
 * (14 bytes, ft_flags with ALT_NOT, relocation of branches leaving the replacement, JMP.d32 ->
 * JMP.d8, NOP runs -> one NOP or a jmp over int3). Expected bytes follow arch/x86/kernel/alternative.c
 * of the Debian 6.1.192 and 6.12.117 trees.
 */
import { strict as assert } from 'assert';
import type { LinkedImage } from '../../../emulator/asm/types';
import { KERNEL_PROFILES, applyAlternatives, type KernelProfile } from '../../../emulator/kernel';
import { writeLE } from '../../../emulator/machine/memory';

const TEXT = 0xffffffff81000000n;
const REPL = 0xffffffff82a00000n;
const ALT = 0xffffffff82a80000n;

interface Site { at: number; orig: number[]; repl: number[]; feature: number; inverted?: boolean }

function image(profile: KernelProfile, text: number[], sites: Site[]): { img: LinkedImage; mem: Map<bigint, number> } {
  const repl: number[] = [];
  const recs: number[] = [];
  sites.forEach((s, i) => {
    const size = profile.altInstr === '6.1' ? 12 : 14;
    const rec = ALT + BigInt(i * size);
    const replAt = REPL + BigInt(repl.length);
    repl.push(...s.repl);
    recs.push(...writeLE(TEXT + BigInt(s.at) - rec, 4), ...writeLE(replAt - (rec + 4n), 4));
    if (profile.altInstr === '6.1') recs.push(...writeLE(BigInt(s.feature | (s.inverted ? 0x8000 : 0)), 2));
    else recs.push(...writeLE(BigInt(s.feature | (s.inverted ? 1 << 16 : 0)), 4));
    recs.push(s.orig.length, s.repl.length);
  });
  const img: LinkedImage = {
    segments: [
      { name: '.text', address: TEXT, bytes: new Uint8Array(text), flags: 'ax' },
      { name: '.altinstr_replacement', address: REPL, bytes: new Uint8Array(repl), flags: 'ax' },
      { name: '.altinstructions', address: ALT, bytes: new Uint8Array(recs), flags: 'a' },
    ],
    symbols: new Map(), lines: [], diagnostics: [],
  };
  const mem = new Map<bigint, number>();
  for (const seg of img.segments) seg.bytes.forEach((b, i) => mem.set(seg.address + BigInt(i), b));
  return { img, mem };
}

function apply(profile: KernelProfile, text: number[], sites: Site[], features: string[]): { text: number[]; applied: boolean[]; reasons: string[] } {
  const { img, mem } = image(profile, text, sites);
  const out = applyAlternatives(img, profile, { features: new Set(features), why: (f, p) => `${f} ${p ? 'present' : 'absent'}` },
    (va, len) => new Uint8Array([...Array(len).keys()].map((i) => mem.get(va + BigInt(i)) ?? 0)),
    (va, bytes) => bytes.forEach((b, i) => mem.set(va + BigInt(i), b)));
  return { text: text.map((_, i) => mem.get(TEXT + BigInt(i)) ?? 0), applied: out.map((a) => a.applied), reasons: out.map((a) => a.reason) };
}

const P61 = KERNEL_PROFILES['6.1'];
const P612 = KERNEL_PROFILES['6.12'];
const PTI = 7 * 32 + 11;
const XENPV = 8 * 32 + 16;
const nop5 = [0x0f, 0x1f, 0x44, 0x00, 0x00];

describe('alternatives of Linux 6.1 (struct alt_instr without padlen)', () => {
  it('feature present: replacement copied, tail padded and optimised into one long NOP', () => {
    // ALTERNATIVE "jmp 1f (eb 05) + 5 x 0x90 pad", "mov %cr3, %rax (0f 20 d8)", X86_FEATURE_PTI
    const r = apply(P61, [0xeb, 0x05, 0x90, 0x90, 0x90, 0x90, 0x90], [{ at: 0, orig: [0xeb, 0x05, 0x90, 0x90, 0x90, 0x90, 0x90], repl: [0x0f, 0x20, 0xd8], feature: PTI }], ['PTI']);
    assert.deepEqual(r.text, [0x0f, 0x20, 0xd8, 0x0f, 0x1f, 0x40, 0x00]);
    assert.deepEqual(r.applied, [true]);
  });
  it('feature absent: original kept, its 0x90 run optimised', () => {
    const r = apply(P61, [0x90, 0x90, 0x90, 0x90, 0x90], [{ at: 0, orig: [0x90, 0x90, 0x90, 0x90, 0x90], repl: [0x0f, 0x20, 0xd8], feature: PTI }], []);
    assert.deepEqual(r.text, nop5);
    assert.deepEqual(r.applied, [false]);
  });
  it('ALTINSTR_FLAG_INV: patched when the feature is ABSENT, and the reason says so', () => {
    const r = apply(P61, [0x90, 0x90], [{ at: 0, orig: [0x90, 0x90], repl: [0xcc, 0xcc], feature: XENPV, inverted: true }], []);
    assert.deepEqual(r.text, [0xcc, 0xcc]);
    assert.match(r.reasons[0], /ALT_NOT\(X86_FEATURE_XENPV\): patched when the feature is absent/);
  });
});

describe('alternatives of Linux 6.3+ (ft_flags), as 6.12 applies them', () => {
  it('ALT_NOT(X86_FEATURE_XENPV) on native hardware: the replacement goes in', () => {
    const r = apply(P612, [0x90, 0x90, 0x90], [{ at: 0, orig: [0x90, 0x90, 0x90], repl: [0x0f, 0x01, 0xf8], feature: XENPV, inverted: true }], []);
    assert.deepEqual(r.text, [0x0f, 0x01, 0xf8]);
    assert.deepEqual(r.applied, [true]);
  });
  it('a jmp.d32 in the replacement aiming outside it is relocated to the site, and shortened to jmp.d8 + int3', () => {
    // Site at .text+0 (5 bytes); replacement "jmp .text+0x20": rel32 from REPL+5.
    const target = TEXT + 0x20n;
    const rel = target - (REPL + 5n);
    const text = [0x90, 0x90, 0x90, 0x90, 0x90, ...Array(0x40).fill(0xcc)];
    const r = apply(P612, text, [{ at: 0, orig: [0x90, 0x90, 0x90, 0x90, 0x90], repl: [0xe9, ...writeLE(rel, 4)], feature: PTI }], ['PTI']);
    assert.deepEqual(r.text.slice(0, 5), [0xeb, 0x1e, 0xcc, 0xcc, 0xcc], 'jmp .+0x20 as eb 1e, rest int3');
  });
  it('a call.d32 aiming outside the replacement is relocated (same target from the new place)', () => {
    const target = TEXT + 0x1000n;
    const r = apply(P612, [0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90], [{ at: 0, orig: [0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90], repl: [0xe8, ...writeLE(target - (REPL + 5n), 4)], feature: PTI }], ['PTI']);
    assert.deepEqual(r.text.slice(0, 5), [0xe8, ...writeLE(target - (TEXT + 5n), 4)]);
    assert.deepEqual(r.text.slice(5), [0x66, 0x90], 'the 2-byte tail becomes one NOP');
  });
  it('feature absent: NOP runs become one NOP (up to 11 bytes) or a short jmp over int3', () => {
    const r11 = apply(P612, Array(11).fill(0x90), [{ at: 0, orig: Array(11).fill(0x90), repl: [0xcc], feature: PTI }], []);
    assert.deepEqual(r11.text, [0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const r20 = apply(P612, Array(20).fill(0x90), [{ at: 0, orig: Array(20).fill(0x90), repl: [0xcc], feature: PTI }], []);
    assert.deepEqual(r20.text, [0xeb, 0x12, ...Array(18).fill(0xcc)]);
  });
});
