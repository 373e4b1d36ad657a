/**
 * Every scenario (launch attribute `scenario`) prints its explanation at launch and ends the way
 * the explanation says: SYSRET, or IRET because of the one check it breaks, or the fault it
 * describes.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from '../support/paths';
import { Dap, buildAdapter } from './dap-helpers';
import { SCENARIOS } from '../../emulator/runtime/scenarios';

interface Ending {
  /** The Debug Console says this ("returned to user mode by ..."). */
  verdict?: RegExp;
  /** The session ends with this stop (else: the program exits). */
  stop?: RegExp;
  /** Extra check with the session still open. */
  check?: (d: Dap) => Promise<void>;
  filters?: string[];
}

const SYSRET = /returned to user mode by SYSRET: every opportunistic-SYSRET check passed/;

async function failedChecks(d: Dap): Promise<string[]> {
  const view = (await d.dc.customRequest('kentry/machineState')).body;
  return view.sysretChecks.filter((c: { pass?: boolean }) => c.pass === false).map((c: { condition: string }) => c.condition);
}

const ENDINGS: Record<string, Ending> = {
  sysret: { verdict: SYSRET },
  'iret-rcx-rip': { verdict: /by IRET because RCX == RIP failed/ },
  'iret-noncanonical': {
    stop: /^#GP\(0x0\) at .*native_irq_return_iret/,
    check: async (d) => {
      assert.deepStrictEqual(await failedChecks(d), ['RCX canonical (sign-extended from bit 47)'], 'only the canonical check failed');
      assert.strictEqual((await d.variables('Registers')).get('cpl'), '0 (kernel mode)', 'IRET faults in ring 0');
    },
  },
  'iret-cs': { verdict: /by IRET because CS == __USER_CS failed/, stop: /^#UD/ },
  'iret-ss': {
    stop: /^#GP\(0x18\) at .*iret/,
    check: async (d) => assert.deepStrictEqual(await failedChecks(d), ['SS == __USER_DS']),
  },
  'iret-r11-rflags': { verdict: /by IRET because R11 == RFLAGS failed/ },
  'iret-tf': {
    verdict: /by IRET because RF and TF clear in R11 failed/,
    stop: /^#DB single-step trap .*stuck_here/,
    check: async (d) => assert.strictEqual((await d.variables('Registers')).get('cpl'), '3 (user mode)', 'the trap comes in user mode, after one instruction'),
  },
  'sysret-gp': {
    stop: /^#GP\(0x0\) at .*syscall_return_via_sysret/,
    check: async (d) => {
      const regs = await d.variables('Registers');
      assert.strictEqual(regs.get('cpl'), '0 (kernel mode)', 'SYSRET faults while still in ring 0');
      assert.strictEqual(regs.get('rsp'), '0x0000414141414000', 'with the user-controlled RSP');
      assert.ok(d.output.some((o) => /patched out 2 instructions \(shl\/sar\)/.test(o)));
    },
  },
  'sysret-gp-amd': {
    verdict: /by SYSRET although RCX canonical .* failed/,
    stop: /^#GP\(0x0\) at 0x800000000000/,
    check: async (d) => {
      assert.strictEqual((await d.variables('Registers')).get('cpl'), '3 (user mode)', 'on AMD the fault comes after the return, in ring 3');
    },
  },
  'pti-off': { verdict: SYSRET, filters: ['cr3-write'] },
  'pti-on': { verdict: SYSRET, filters: ['cr3-write'], stop: /^CR3 write/ },
  'pcid-off': {
    verdict: SYSRET, filters: ['swapgs'], stop: /^SWAPGS/,
    check: async (d) => assert.strictEqual((await d.variables('Control registers')).get('CR3.pcid'), 'n/a (CR4.PCIDE=0)'),
  },
  'pcid-on': {
    filters: ['swapgs'], stop: /^SWAPGS/,
    check: async (d) => assert.match((await d.variables('Control registers')).get('CR3.pcid') ?? '', /^0x[0-9a-f]+$/),
  },
  la57: { verdict: SYSRET, check: async (d) => assert.ok(d.output.some((o) => /\[scenario\] LA57: /.test(o))) },
  'la57-off': { verdict: SYSRET },
  amd: { verdict: SYSRET, filters: ['cr3-write'], check: async (d) => assert.ok(d.output.some((o) => /PTI: not set: AMD/.test(o))) },
  intel: { verdict: SYSRET, filters: ['cr3-write'], stop: /^CR3 write/ },
};

describe('DAP: scenarios', function () {
  before(buildAdapter);

  it('every scenario has an expected ending here, and is offered by the launch.json schema', () => {
    assert.deepStrictEqual(SCENARIOS.map((s) => s.name).sort(), Object.keys(ENDINGS).sort());
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const props = pkg.contributes.debuggers[0].configurationAttributes.launch.properties;
    assert.deepStrictEqual(props.scenario.enum, SCENARIOS.map((s) => s.name));
    assert.deepStrictEqual(props.engine.enum, ['emulator', 'qemu']);
    assert.strictEqual(props.historyLimit.type, 'number');
  });

  for (const scenario of SCENARIOS) {
    const ending = ENDINGS[scenario.name];
    it(`${scenario.name}: ${scenario.title}`, async () => {
      const d = new Dap();
      await d.start();
      try {
        const ev = await d.launch({ scenario: scenario.name }, { filters: ['gp', 'pf', 'ud', 'db', 'df', 'triple-fault', ...(ending.filters ?? [])] });
        const said = d.output.join('');
        assert.ok(said.includes(`[scenario] ${scenario.name}: ${scenario.title}`), `explanation printed at launch: ${said}`);
        if (ending.stop) {
          assert.ok(ev !== 'terminated', `expected a stop matching ${ending.stop}, the program ran to the end:\n${said}`);
          assert.strictEqual(ev.body.reason, 'exception');
          assert.match(ev.body.description ?? '', ending.stop);
        } else {
          assert.strictEqual(ev, 'terminated', `expected the program to run to its end; stopped: ${ev !== 'terminated' ? ev.body.description : ''}`);
        }
        await ending.check?.(d);
        if (ending.verdict && !ending.verdict.test(d.output.join(''))) {
          // Stopped on the way (an event filter): the verdict comes at the return to user mode.
          await d.dc.setExceptionBreakpointsRequest({ filters: ['gp', 'pf', 'ud', 'db', 'df', 'triple-fault'] });
          assert.strictEqual(await d.continue(), 'terminated');
        }
        if (ending.verdict) assert.match(d.output.join(''), ending.verdict);
        if (scenario.name.startsWith('iret')) assert.ok(!SYSRET.test(d.output.join('')), 'no SYSRET in an IRET scenario');
      } finally {
        await d.stop();
      }
    });
  }
});
