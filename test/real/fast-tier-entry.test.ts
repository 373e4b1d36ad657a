/**
 * The CPU's fast tier (Machine.runFast) against step() on the entry code itself: the bundled
 * sample, the seed and the real 6.1 / 6.12 entry_64.S, Intel and AMD. Two identical booted
 * systems run the hello program (getpid, write, exit); one only steps, the other runs the fast
 * tier in chunks of varying length and steps only what the fast tier leaves. After every chunk
 * the registers, RIP, RFLAGS, CR3, MSRs and retired count must agree; at the end, every page and
 * the TLB. The fast tier must really have run kernel code (pushes building pt_regs, per-CPU stores).
 */
import { strict as assert } from 'assert';
import { assemble } from '../../emulator/asm';
import { CPU_PROFILES } from '../../emulator/cpu/profiles';
import { bootSystem, stepSystem, userTranslationUnit, type BootedSystem } from '../../emulator/kernel';
import { bootWithKentry } from '../unit/kernel/boot-helpers';
import { seedFile } from '../unit/kernel/gnu-tools';
import { build, treeMissing, SAMPLES } from './trees';

function bootReal(version: string, cpu: string): BootedSystem {
  const b = build(version);
  const kernel = b.units.map((u) => assemble(u));
  const user = assemble({ ...userTranslationUnit(`${SAMPLES}/user/hello.S`, SAMPLES), fs: b.fs });
  const booted = bootSystem({ profile: b.profile, config: b.config, cpu: CPU_PROFILES[cpu], kernel, user });
  if ('errors' in booted) throw new Error(booted.errors.map((e) => e.message).join('\n'));
  return booted;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function sameCpu(a: BootedSystem, b: BootedSystem, where: string): void {
  const x = a.machine.state, y = b.machine.state;
  assert.deepEqual(y.gpr.map(hex), x.gpr.map(hex), `${where}: GPRs`);
  assert.equal(hex(y.rip), hex(x.rip), `${where}: RIP`);
  assert.equal(hex(y.rflags), hex(x.rflags), `${where}: RFLAGS`);
  assert.equal(hex(y.cr3), hex(x.cr3), `${where}: CR3`);
  assert.equal(hex(y.seg.gs.base), hex(x.seg.gs.base), `${where}: GS base`);
  assert.deepEqual([...y.msrs].map(([k, v]) => `${k}=${hex(v)}`), [...x.msrs].map(([k, v]) => `${k}=${hex(v)}`), `${where}: MSRs`);
  assert.equal(b.machine.instructionsRetired, a.machine.instructionsRetired, `${where}: instructions retired`);
}

function sameMemory(a: BootedSystem, b: BootedSystem): void {
  const ma = a.machine.mem.snapshot(), mb = b.machine.mem.snapshot();
  assert.deepEqual([...mb.keys()].sort(), [...ma.keys()].sort(), 'the same frames exist');
  for (const [pfn, bytes] of ma) assert.ok(Buffer.from(bytes).equals(Buffer.from(mb.get(pfn) as Uint8Array)), `frame 0x${pfn.toString(16)} differs`);
  const rows = (s: BootedSystem): string[] => s.machine.tlb.entries().map((e) => `${hex(e.linear)}:${e.pcid}:${hex(e.physBase)}:${e.dirty}`).sort();
  assert.deepEqual(rows(b), rows(a), 'TLB');
}

/** Run both to the program's exit; returns how many instructions the fast tier ran at CPL 0 and 3. */
function lockstep(a: BootedSystem, b: BootedSystem): { kernel: number; user: number } {
  const stops = { addresses: new Set(b.models.keys()), version: 1 };
  const fast = { kernel: 0, user: 0 };
  for (let chunk = 0; chunk < 5000; chunk++) {
    const cpl = b.machine.state.cpl;
    const n = b.machine.runFast(1 + (chunk % 9) * 3, stops);
    if (n > 0) {
      if (cpl === 0) fast.kernel += n; else fast.user += n;
      for (let i = 0; i < n; i++) {
        const r = stepSystem(a);
        assert.ok(r.kind === 'cpu' && r.result.kind === 'ok', `step() at the fast tier's instruction ${i}: ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? hex(v) : v))}`);
      }
      sameCpu(a, b, `after a fast run of ${n} ending at ${hex(b.machine.state.rip)}`);
      continue;
    }
    const ra = stepSystem(a);
    const rb = stepSystem(b);
    assert.equal(rb.kind, ra.kind);
    sameCpu(a, b, `after stepping ${hex(a.machine.state.rip)}`);
    if (ra.kind === 'model' && ra.outcome.kind === 'exit') {
      sameMemory(a, b);
      return fast;
    }
  }
  return assert.fail('the program did not exit');
}

const systems: [string, (cpu: string) => BootedSystem, () => string | undefined][] = [
  ['the bundled sample', (cpu) => bootWithKentry(cpu), () => undefined],
  ['the seed', (cpu) => bootWithKentry(cpu, { entryFile: seedFile }), () => undefined],
  ['real Linux 6.1', (cpu) => bootReal('6.1', cpu), () => treeMissing('6.1')],
  ['real Linux 6.12', (cpu) => bootReal('6.12', cpu), () => treeMissing('6.12')],
];

describe('fast tier vs step() on the entry code', function () {
  this.timeout(120_000);
  for (const [what, boot, missing] of systems) for (const cpu of ['intel', 'amd']) {
    it(`${what} on ${cpu}: the same state after every fast run, the same memory and TLB at exit`, function () {
      const why = missing();
      if (why) return this.skip();
      const fast = lockstep(boot(cpu), boot(cpu));
      assert.ok(fast.kernel >= 10, `the fast tier ran kernel instructions (${fast.kernel})`);
      assert.ok(fast.user > 0, `the fast tier ran user instructions (${fast.user})`);
    });
  }
});
