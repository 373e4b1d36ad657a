/**
 * The disassembly view marks the instructions the boot patched in (apply_alternatives): on the
 * intel CPU (PTI, PCID) SWITCH_TO_KERNEL_CR3 runs the PCID replacement and NOPs where the PTI
 * jump was, and the view says so next to each of them.
 */
import * as assert from 'assert';
import * as path from 'path';
import { SAMPLES, lineOf } from '../support/paths';
import { Dap, buildAdapter } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');

describe('DAP: disassembly marks alternatives patched in at boot', function () {
  let d: Dap;
  const cr3Line = lineOf(ENTRY, /^\s*SWITCH_TO_KERNEL_CR3\b/);

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  it('SWITCH_TO_KERNEL_CR3 on intel: the PTI site (now NOPs) and the PCID replacement carry "(alternative: ... patched in)"', async () => {
    await d.launch({ cpu: 'intel' }, { breakpoints: [{ file: ENTRY, lines: [cr3Line] }] });
    const rip = await d.rip();
    const r = await d.dc.customRequest('disassemble', { memoryReference: `0x${rip.toString(16)}`, instructionCount: 12, resolveSymbols: true });
    const insns = r.body.instructions as { instruction: string }[];
    const texts = insns.map((i) => i.instruction);
    assert.ok(texts.some((t) => /^(nop|xchg %ax,%ax).*\(alternative: X86_FEATURE_PTI patched in, padding\)$/.test(t)), texts.join('\n'));
    assert.ok(texts.some((t) => /^bts.*\(alternative: X86_FEATURE_PCID patched in\)$/.test(t)), texts.join('\n'));
    assert.ok(texts.some((t) => /^mov\s+%cr3,%rsp$/.test(t)), 'code the boot did not touch has no note');
  });
});
