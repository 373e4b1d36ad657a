/**
 * The real entry_64.S of Linux 6.1 and 6.12 booted and run: the bundled hello program's getpid,
 * write and exit_group go through entry_SYSCALL_64 and back by SYSRET, with the kernel state of
 * that version (where the task stack top lives, do_syscall_64's ABI, 6.7+'s SYSRET checks in C),
 * the alternatives the CPU profile decides, and CR3 left alone when PTI is off.
 */
import { strict as assert } from 'node:assert';
import { assemble } from '../../emulator/asm';
import { CPU_PROFILES } from '../../emulator/cpu/profiles';
import { SIZEOF_PTREGS, PT_REGS_BY_ASM_NAME } from '../../emulator/machine/facts';
import { GPR_INDEX } from '../../emulator/machine/state';
import { bootSystem, inspectMachine, stepSystem, userTranslationUnit, type BootedSystem } from '../../emulator/kernel';
import { build, treeMissing, SAMPLES } from './trees';

function boot(version: string, cpu = 'intel', config: Record<string, boolean> = {}, extraFeatures: string[] = []): BootedSystem {
  const b = build(version, config);
  const kernel = b.units.map((u) => assemble(u));
  const user = assemble({ ...userTranslationUnit(`${SAMPLES}/user/hello.S`, SAMPLES), fs: b.fs });
  const errors = [...kernel, user].flatMap((o) => o.diagnostics.filter((d) => d.severity === 'error'));
  assert.deepEqual(errors.map((e) => `${e.loc.file}:${e.loc.line} ${e.message}`), []);
  const base = CPU_PROFILES[cpu];
  const booted = bootSystem({ profile: b.profile, config: b.config, cpu: { ...base, features: new Set([...base.features, ...extraFeatures]) }, kernel, user });
  if ('errors' in booted) throw new Error(booted.errors.map((e) => e.message).join('\n'));
  return booted;
}

interface Trace { exit?: number; returns: string[]; console: string; models: string[]; cr3s: Set<bigint>; stop?: string; specCtrlInUser: bigint[] }

/** Run to exit; `beforeModel` may change the machine when RIP reaches a model. */
function run(sys: BootedSystem, beforeModel?: (sys: BootedSystem) => void): Trace {
  const t: Trace = { returns: [], console: '', models: [], cr3s: new Set(), specCtrlInUser: [] };
  const s = sys.machine.state;
  for (let i = 0; i < 200_000; i++) {
    if (sys.models.has(s.rip)) beforeModel?.(sys);
    const rip = s.rip;
    const cpl = s.cpl;
    const bytes = sys.machine.readVirtual(rip, 3);
    const r = stepSystem(sys, (text) => (t.console += text));
    if (s.cpl === 0) t.cr3s.add(s.cr3);
    if (r.kind === 'model') {
      if (r.outcome.kind === 'error') { t.stop = r.outcome.message; return t; }
      t.models.push(r.outcome.summary);
      if (r.outcome.kind === 'exit') { t.exit = r.outcome.code; return t; }
    } else if (r.result.kind !== 'ok') {
      t.stop = `${r.result.kind} at ${sys.machine.state.rip.toString(16)}: ${'message' in r.result ? r.result.message : ''}`;
      return t;
    } else if (cpl === 0 && s.cpl === 3 && bytes instanceof Uint8Array) {
      t.specCtrlInUser.push(s.msrs.get(0x48) ?? 0n);
      t.returns.push(bytes[1] === 0x0f && bytes[2] === 0x07 ? 'sysretq' : bytes[1] === 0xcf ? 'iretq' : Buffer.from(bytes).toString('hex'));
    }
  }
  t.stop = 'budget';
  return t;
}

const ptRegs = (sys: BootedSystem, name: string): bigint => sys.layout.taskStackTop - BigInt(SIZEOF_PTREGS) + BigInt(PT_REGS_BY_ASM_NAME.get(name)!.offset);

for (const version of ['6.1', '6.12']) {
  describe(`real Linux ${version} entry_64.S booted and run`, function () {
    before(function () {
      const why = treeMissing(version);
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
    });

    it('hello: getpid, write, exit_group through entry_SYSCALL_64, each back by SYSRET', () => {
      const sys = boot(version);
      const t = run(sys);
      assert.equal(t.stop, undefined, t.stop);
      assert.equal(t.exit, 0);
      assert.match(t.console, /Hello from ring 3, via entry_SYSCALL_64!/);
      assert.deepEqual(t.returns, ['sysretq', 'sysretq']);
      assert.match(t.models[0], /^getpid\(\) = 4242/);
      assert.equal(sys.profile.release.startsWith(`v${version}.`), true, sys.profile.release);
    });

    it('kernel state follows the version: task stack top, do_syscall_64 ABI, SYSRET checks, PTI alternatives', () => {
      const sys = boot(version);
      const view = inspectMachine(sys, new Map());
      const top = view.perCpu.find((f) => f.name === (version === '6.1' ? 'cpu_current_top_of_stack' : 'pcpu_hot.top_of_stack'));
      assert.ok(top, `per-CPU view shows ${version === '6.1' ? 'cpu_current_top_of_stack' : 'pcpu_hot.top_of_stack'}: ${view.perCpu.map((f) => f.name)}`);
      assert.equal(BigInt(top.value), sys.layout.taskStackTop);
      assert.match(view.tss.find((f) => f.name.endsWith('.sp1'))?.decoded ?? '', /^unused in v6\./);
      assert.equal(sys.profile.doSyscall64.argNames.join(','), 'regs,nr');
      assert.equal(sys.profile.doSyscall64.returnsBool, version === '6.12');
      if (version === '6.12') assert.ok(view.sysretChecks.every((c) => /in C: do_syscall_64/.test(c.condition)), view.sysretChecks.map((c) => c.condition).join('; '));
      else assert.ok(view.sysretChecks.some((c) => c.condition === 'RCX == RIP'));
      // PTI on this Intel CPU: the CR3 switches are live, with the reason.
      const pti = view.alternatives?.filter((a) => a.feature === 'X86_FEATURE_PTI') ?? [];
      assert.ok(pti.length > 0 && pti.every((a) => a.live === 'replacement'));
      assert.match(pti[0].reason, /PAGE_TABLE_ISOLATION=y and this Intel CPU is vulnerable to Meltdown/);
      const xenpv = view.alternatives?.find((a) => /XENPV/.test(a.feature));
      assert.ok(xenpv && xenpv.live === 'original' && /not a Xen PV guest/.test(xenpv.reason), JSON.stringify(xenpv));
      assert.match(view.kernel.factSources?.asmOffsets ?? '', /include\/generated\/asm-offsets\.h$/);
      // Symbols defined elsewhere are stubs: ud2 for C handlers, a plain ret for the return thunk.
      const stubs = new Map([...sys.stubs.values()].map((x) => [x.name, x.kind]));
      assert.equal(stubs.get('__x86_return_thunk'), 'ret');
      assert.equal(stubs.get('exc_page_fault'), 'ud2');
      // Reaching a ud2 stub is a clear stop that names it.
      const at = sys.kernelImage.symbols.get('exc_page_fault')!;
      assert.equal(sys.stubs.get(at)?.name, 'exc_page_fault');
      sys.machine.state.rip = at;
      sys.machine.state.cpl = 0;
      assert.match(inspectMachine(sys, new Map()).where, /^stub: exc_page_fault is defined outside the entry file and not modelled: a ud2 stub/);
      assert.deepEqual([...sys.machine.mem.read(at - sys.profile.layout.startKernelMap, 2)], [0x0f, 0x0b], 'ud2');
    });

    it('AMD (no Meltdown): PTI alternatives stay unpatched and CR3 never changes in the kernel', () => {
      const sys = boot(version, 'amd');
      const before = sys.machine.state.cr3;
      const t = run(sys);
      assert.equal(t.exit, 0, t.stop);
      assert.deepEqual([...t.cr3s], [before]);
      assert.ok(sys.alternatives.filter((a) => a.feature === 'PTI').every((a) => !a.applied));
      assert.deepEqual(t.returns, ['sysretq', 'sysretq']);
    });

    it('PAGE_TABLE_ISOLATION=n on Intel: CR3 untouched too', () => {
      const sys = boot(version, 'intel', version === '6.1' ? { PAGE_TABLE_ISOLATION: false } : { MITIGATION_PAGE_TABLE_ISOLATION: false });
      assert.equal(sys.pti, false);
      const before = sys.machine.state.cr3;
      const t = run(sys);
      assert.equal(t.exit, 0, t.stop);
      assert.deepEqual([...t.cr3s], [before]);
    });

    it('a CPU profile selecting the entry mitigations: IBRS_ENTER/EXIT, UNTRAIN_RET (IBPB), CLEAR_BRANCH_HISTORY and VERW run, and SYSRET still returns', () => {
      const sys = boot(version, 'intel', {}, ['KERNEL_IBRS', 'ENTRY_IBPB', 'CLEAR_CPU_BUF', 'CLEAR_BHB_LOOP']);
      for (const f of ['KERNEL_IBRS', 'ENTRY_IBPB', 'CLEAR_CPU_BUF', 'CLEAR_BHB_LOOP']) {
        const sites = sys.alternatives.filter((a) => a.feature === f);
        assert.ok(sites.length > 0 && sites.every((a) => a.applied), `${f} patched in`);
        assert.match(sites[0].reason, /CPU profile selects this Linux mitigation feature/);
      }
      const specCtrl = new Set<bigint>();
      const t = run(sys, (s) => specCtrl.add(s.machine.state.msrs.get(0x48) ?? 0n));
      assert.equal(t.exit, 0, t.stop);
      assert.deepEqual([...specCtrl], [1n], 'IBRS_ENTER set SPEC_CTRL.IBRS before do_syscall_64');
      assert.deepEqual(t.specCtrlInUser, [0n, 0n], 'IBRS_EXIT cleared it on the way out');
      assert.deepEqual(t.returns, ['sysretq', 'sysretq']);
    });

    it('5-level paging (intel-la57 CPU, X86_5LEVEL=y): the LA57 alternatives are live and SYSRET still returns', () => {
      const sys = boot(version, 'intel-la57');
      const la57 = sys.alternatives.filter((a) => a.feature === 'LA57');
      if (version === '6.1') assert.ok(la57.length > 0 && la57.every((a) => a.applied), 'the SYSRET canonical check uses 57 bits');
      const t = run(sys);
      assert.equal(t.exit, 0, t.stop);
      assert.deepEqual(t.returns, ['sysretq', 'sysretq']);
    });

    it('a failed SYSRET condition (pt_regs->cx changed before do_syscall_64) leaves through IRET', () => {
      const sys = boot(version);
      let first = true;
      const t = run(sys, (s) => {
        if (!first) return;
        first = false;
        // The user program does not look at RCX after getpid; IRET restores it from pt_regs.
        s.machine.writeVirtual(ptRegs(s, 'RCX'), new Uint8Array(8).fill(0x11));
      });
      assert.equal(t.exit, 0, t.stop);
      assert.deepEqual(t.returns, ['iretq', 'sysretq']);
      if (version === '6.12') assert.match(t.models[0], /returns false \(IRET\): regs->cx == regs->ip && regs->r11 == regs->flags does not hold/);
      assert.equal(sys.machine.state.gpr[GPR_INDEX.rax] >= 0n, true);
    });
  });
}
