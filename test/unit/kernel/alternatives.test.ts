import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { LinkedImage } from '../../../emulator/asm/types';
import {
  GENERATED_DIR, KERNEL_PROFILES, P6_NOPS, applyAlternatives, resolveConfig, type AppliedAlternative, type BootedSystem,
} from '../../../emulator/kernel';
import { gnuAssemble, gnuLink, samplesDir, tempDir } from './gnu-tools';
import { bootWithGnu } from './boot-helpers';

const bytesAt = (sys: BootedSystem, a: AppliedAlternative): number[] => [...(sys.machine.mem.read(a.instrAddress - sys.profile.layout.startKernelMap, a.instrlen))];
const byFeature = (sys: BootedSystem, f: string): AppliedAlternative[] => sys.alternatives.filter((a) => a.feature === f);

describe('alternatives applied at boot as Linux 5.8 does', () => {
  it('intel: X86_FEATURE_PTI is patched in (the jmp over the CR3 switch becomes a 2-byte NOP)', () => {
    const sys = bootWithGnu('intel');
    const pti = byFeature(sys, 'PTI');
    assert.equal(pti.length, 3, 'SWITCH_TO_KERNEL_CR3 + SWITCH_TO_USER_CR3 in the syscall and IRET paths');
    for (const a of pti) {
      assert.ok(a.applied);
      assert.equal(a.before[0], 0xeb, 'original: short jmp');
      assert.deepEqual(bytesAt(sys, a), [...P6_NOPS[2]]);
      assert.match(a.reason, /Meltdown/);
    }
    const pcid = byFeature(sys, 'PCID').find((a) => a.replacementlen === 5);
    assert.ok(pcid?.applied);
    assert.deepEqual(bytesAt(sys, pcid), [0x48, 0x0f, 0xba, 0xec, 0x3f], 'bts $63, %rsp (SET_NOFLUSH_BIT)');
  });

  it('amd: PTI left as a jmp, the PCID padding turned into one long NOP', () => {
    const sys = bootWithGnu('amd');
    for (const a of byFeature(sys, 'PTI')) {
      assert.ok(!a.applied);
      assert.equal(bytesAt(sys, a)[0], 0xeb);
      assert.match(a.reason, /AMD CPUs are not affected by Meltdown/);
    }
    const pcid = byFeature(sys, 'PCID').find((a) => a.replacementlen === 5);
    assert.ok(pcid && !pcid.applied);
    assert.deepEqual(pcid.before, new Uint8Array([0x90, 0x90, 0x90, 0x90, 0x90]));
    assert.deepEqual(bytesAt(sys, pcid), [...P6_NOPS[5]]);
  });

  it('X86_5LEVEL=y: the LA57 canonical-check alternative exists and stays unapplied on a 4-level boot', () => {
    const sys = bootWithGnu('intel', { config: { X86_5LEVEL: true } });
    const la57 = byFeature(sys, 'LA57');
    assert.equal(la57.length, 1);
    assert.ok(!la57[0].applied);
    assert.equal(la57[0].instrlen, 8);
  });
});

describe('applyAlternatives on a hand-written ALTERNATIVE_2 site (GNU-assembled)', () => {
  const profile = KERNEL_PROFILES['5.8'];
  const config = resolveConfig(profile);
  function build(): LinkedImage {
    const dir = tempDir();
    const file = path.join(dir, 'alt2.S');
    fs.writeFileSync(file, [
      '#include <kentry/alternative.h>',
      '\t.section .entry.text, "ax"',
      'site:',
      '\tALTERNATIVE_2 "xorl %eax, %eax", "call target", X86_FEATURE_PCID, "jmp target", X86_FEATURE_SMAP',
      '\tret',
      '\t.fill 40, 1, 0xcc',
      'target:',
      '\tret',
      '',
    ].join('\n'));
    const obj = gnuAssemble({ file, includeDirs: [`${samplesDir}/include`, GENERATED_DIR] }, profile, config, dir);
    return gnuLink([obj], { sectionBases: { '.entry.text': 0xffffffff81a00000n, '.altinstr_replacement': 0xffffffff82a00000n, '.altinstructions': 0xffffffff82a80000n }, externs: new Map() });
  }
  function apply(features: string[]): { mem: Map<bigint, number>; applied: AppliedAlternative[]; image: LinkedImage } {
    const image = build();
    const mem = new Map<bigint, number>();
    for (const s of image.segments) s.bytes.forEach((b, i) => mem.set(s.address + BigInt(i), b));
    const applied = applyAlternatives(image, profile, { features: new Set(features), why: (f, p) => `${f} ${p}` },
      (va, len) => Uint8Array.from({ length: len }, (_, i) => mem.get(va + BigInt(i)) ?? 0),
      (va, bytes) => bytes.forEach((b, i) => mem.set(va + BigInt(i), b)));
    return { mem, applied, image };
  }
  const at = (mem: Map<bigint, number>, va: bigint, n: number): number[] => Array.from({ length: n }, (_, i) => mem.get(va + BigInt(i)) ?? -1);

  it('pads the 2-byte original to 5 bytes; without either feature the site stays (5.8 optimize_nops only fires when the first padlen bytes are 0x90)', () => {
    const { mem, applied, image } = apply([]);
    const site = image.symbols.get('site') as bigint;
    assert.equal(applied.length, 2);
    assert.deepEqual(applied.map((a) => [a.instrlen, a.replacementlen, a.padlen]), [[5, 5, 3], [5, 5, 3]]);
    // 5.8's optimize_nops() looks at the first padlen bytes (the xorl), not the padding: left as is.
    assert.deepEqual(at(mem, site, 5), [0x31, 0xc0, 0x90, 0x90, 0x90]);
  });

  it('X86_FEATURE_PCID: the call is copied and its rel32 re-aimed at the target from the new place', () => {
    const { mem, image } = apply(['PCID']);
    const site = image.symbols.get('site') as bigint;
    const target = image.symbols.get('target') as bigint;
    const bytes = at(mem, site, 5);
    assert.equal(bytes[0], 0xe8);
    const rel = BigInt.asIntN(32, BigInt(bytes[1] | (bytes[2] << 8) | (bytes[3] << 16)) | (BigInt(bytes[4]) << 24n));
    assert.equal(site + 5n + rel, target);
  });

  it('both features: the second record wins, and its jmp is shortened to 2 bytes + NOPs (recompute_jump)', () => {
    const { mem, image } = apply(['PCID', 'SMAP']);
    const site = image.symbols.get('site') as bigint;
    const target = image.symbols.get('target') as bigint;
    const bytes = at(mem, site, 5);
    assert.equal(bytes[0], 0xeb);
    assert.equal(site + 2n + BigInt.asIntN(8, BigInt(bytes[1])), target);
    assert.deepEqual(bytes.slice(2), [...P6_NOPS[3]]);
  });
});
