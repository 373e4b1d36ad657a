import { strict as assert } from 'assert';
import { P6_NOPS, type AppliedAlternative, type BootedSystem } from '../../../emulator/kernel';
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
