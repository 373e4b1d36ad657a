/**
 * kentry's assembler on the real arch/x86/entry/entry_64.S of Linux 6.1 and 6.12 (Debian trees
 * prepared by scripts/linux-trees.sh), preprocessed with Kbuild's own flags (kernelBuild), against
 * gcc -E + GNU as on the same input: .text, .entry.text, .altinstructions, .altinstr_replacement
 * and __ex_table byte for byte, their relocations by symbol and addend. Config variants toggle
 * PTI, 5-level paging, the entry mitigations, IBT, STACKLEAK. The assembler gaps these files
 * exposed (test/real/ASM-GAPS.md) are fixed; every other section and relocation is compared too.
 */
import { strict as assert } from 'node:assert';
import { compareWithGas } from '../unit/asm/gas-helper';
import { build, ours, gnu, sectionDiff, relocDiff, treeMissing, unbuilt, COMPARED_SECTIONS } from './trees';

type Variant = { name: string; config: Record<string, boolean> };

const VARIANTS: Record<string, Variant[]> = {
  '6.1': [
    { name: 'x86_64_defconfig', config: {} },
    { name: 'PAGE_TABLE_ISOLATION=n', config: { PAGE_TABLE_ISOLATION: false } },
    { name: 'X86_5LEVEL=n', config: { X86_5LEVEL: false } },
    { name: 'entry mitigations off (RETPOLINE, RETHUNK, UNRET/IBPB/IBRS_ENTRY, SRSO, ITS)', config: { RETPOLINE: false, RETHUNK: false, CPU_UNRET_ENTRY: false, CPU_IBPB_ENTRY: false, CPU_IBRS_ENTRY: false, CPU_SRSO: false, MITIGATION_ITS: false } },
    { name: 'X86_KERNEL_IBT=y', config: { X86_KERNEL_IBT: true } },
    { name: 'GCC_PLUGIN_STACKLEAK=y', config: { GCC_PLUGIN_STACKLEAK: true } },
    { name: 'DEBUG_ENTRY=y', config: { DEBUG_ENTRY: true } },
  ],
  '6.12': [
    { name: 'x86_64_defconfig', config: {} },
    { name: 'MITIGATION_PAGE_TABLE_ISOLATION=n', config: { MITIGATION_PAGE_TABLE_ISOLATION: false } },
    { name: 'X86_5LEVEL=n', config: { X86_5LEVEL: false } },
    { name: 'entry mitigations off (MITIGATION_*: RETPOLINE, RETHUNK, UNRET/IBPB/IBRS_ENTRY, SRSO, ITS, CALL_DEPTH_TRACKING)', config: { MITIGATION_RETPOLINE: false, MITIGATION_RETHUNK: false, MITIGATION_UNRET_ENTRY: false, MITIGATION_IBPB_ENTRY: false, MITIGATION_IBRS_ENTRY: false, MITIGATION_SRSO: false, MITIGATION_ITS: false, MITIGATION_CALL_DEPTH_TRACKING: false, CALL_THUNKS: false } },
    { name: 'X86_KERNEL_IBT=n', config: { X86_KERNEL_IBT: false } },
    { name: 'GCC_PLUGIN_STACKLEAK=y', config: { GCC_PLUGIN_STACKLEAK: true } },
  ],
};

for (const [version, variants] of Object.entries(VARIANTS)) {
  describe(`real Linux ${version} arch/x86/entry/entry_64.S: kentry's assembler vs gcc -E + GNU as`, function () {
    before(function () {
      const why = treeMissing(version);
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
    });

    for (const v of variants) {
      it(`${v.name}: .text, .entry.text, .altinstructions, .altinstr_replacement, __ex_table and their relocations identical; so is the rest`, () => {
        const obj = ours(build(version, v.config));
        assert.deepEqual(obj.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`), []);
        const g = gnu(version, v.config);
        assert.deepEqual(COMPARED_SECTIONS.map((s) => sectionDiff(obj, g, s)).filter((d) => d !== undefined), []);
        assert.deepEqual(relocDiff(obj, g), []);
        assert.ok((obj.sections.get('.altinstructions')?.bytes.length ?? 0) > 0, 'the file has alternatives');
        // Everything else too (.discard.*, _kprobe_blacklist, ksymtab, ...).
        assert.deepEqual(compareWithGas(obj, g).map((d) => d.slice(0, 400)), []);
      });
    }

    it('an unbuilt tree (no include/generated) assembles to the same bytes from the bundled profile', () => {
      const real = ours(build(version));
      const b = build(version, {}, unbuilt(version));
      assert.equal(b.tree?.built, false);
      const fromProfile = ours(b);
      assert.deepEqual(fromProfile.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`), []);
      for (const s of COMPARED_SECTIONS) {
        assert.equal(Buffer.from(fromProfile.sections.get(s)?.bytes ?? []).toString('hex'), Buffer.from(real.sections.get(s)?.bytes ?? []).toString('hex'), `${s} differs between the prepared tree and the bundled ${version} profile`);
      }
      assert.match(b.profile.factSources.config, /bundled/);
      assert.match(build(version).profile.factSources.config, /include\/generated\/autoconf\.h/);
    });
  });
}
