import { strict as assert } from 'assert';
import { GPR_INDEX } from '../../../emulator/machine/state';
import { runSystem, stepSystem, type BootedSystem } from '../../../emulator/kernel';
import { bootWithGnu } from './boot-helpers';
import { seedFile } from './gnu-tools';

/** Run until the CPU comes back to ring 3 after having been in the kernel. */
function runOneSyscall(sys: BootedSystem): { kernelRips: Set<bigint>; lastKernelInsn: bigint } {
  const kernelRips = new Set<bigint>();
  let lastKernelInsn = 0n;
  let wasKernel = false;
  for (let i = 0; i < 2000; i++) {
    const s = sys.machine.state;
    if (s.cpl === 0) {
      wasKernel = true;
      kernelRips.add(s.rip);
      lastKernelInsn = s.rip;
    } else if (wasKernel) return { kernelRips, lastKernelInsn };
    const r = stepSystem(sys);
    if (r.kind === 'cpu' && r.result.kind !== 'ok') assert.fail(`${JSON.stringify(r.result, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
    if (r.kind === 'model') assert.equal(r.outcome.kind, 'return', JSON.stringify(r.outcome));
  }
  return assert.fail('no return to user mode within 2000 steps');
}

const cases: [string, string, string | undefined][] = [
  ['bundled entry_64.S', 'intel', undefined],
  ['bundled entry_64.S', 'amd', undefined],
  ['the seed, unmodified', 'intel', seedFile],
  ['the seed, unmodified', 'amd', seedFile],
];

for (const toolchain of ['gnu', 'kentry'] as const) for (const [what, cpu, entryFile] of cases) {
  describe(`end to end (${toolchain} toolchain): getpid/write/exit through ${what} on ${cpu}`, () => {
    it('getpid returns 4242 in RAX by SYSRET, on the user page table again', () => {
      const sys = bootWithGnu(cpu, { entryFile, toolchain });
      const userCr3 = sys.machine.state.cr3;
      const userGs = sys.machine.state.seg.gs.base;
      const { kernelRips, lastKernelInsn } = runOneSyscall(sys);
      const s = sys.machine.state;
      assert.equal(s.gpr[GPR_INDEX.rax], 4242n);
      assert.equal(s.cpl, 3);
      assert.equal(s.cr3, userCr3, 'back on the user CR3 (PCID bits included; NOFLUSH never reads back)');
      assert.equal(s.seg.gs.base, userGs, 'user GS base restored');
      const iretPath = sys.kernelImage.symbols.get('swapgs_restore_regs_and_return_to_usermode') as bigint;
      assert.ok(!kernelRips.has(iretPath), 'took the SYSRET fast path');
      const bytes = sys.machine.readVirtual(lastKernelInsn, 3);
      assert.deepEqual([...(bytes as Uint8Array)], [0x48, 0x0f, 0x07], 'the last kernel instruction was sysretq');
      assert.equal(s.gpr[GPR_INDEX.rsp], sys.layout.userStackTop, 'user RSP restored');
    });

    it('write() prints through copy_from_user and exit_group ends the process', () => {
      const sys = bootWithGnu(cpu, { entryFile, toolchain });
      let out = '';
      const r = runSystem(sys, { console: (t) => (out += t), budget: 5000 });
      assert.equal(r.stop, 'exit', r.detail);
      assert.equal(r.exitCode, 0);
      assert.equal(out, 'Hello from ring 3, via entry_SYSCALL_64!\n');
      assert.deepEqual(r.models.map((m) => m.summary.split(' (')[0]), [
        'getpid() = 4242',
        `write(1, 0x${(sys.userImage.symbols.get('message') as bigint).toString(16)}, 41) = 41`,
        'exit_group(0): the process exits with status 0',
      ]);
    });
  });
}

describe('end to end: the IRET path', () => {
  it('a TF set in the saved flags sends the return through swapgs_restore_regs_and_return_to_usermode and iretq', () => {
    const sys = bootWithGnu('intel');
    // Step into the kernel until do_syscall_64 is about to run, then flip TF in pt_regs->flags and r11.
    for (let i = 0; i < 200 && !sys.models.has(sys.machine.state.rip); i++) stepSystem(sys);
    assert.ok(sys.models.has(sys.machine.state.rip));
    const regs = sys.layout.taskStackTop - 168n;
    const m = sys.machine;
    const flags = m.readU64Virtual(regs + 144n) as bigint;
    assert.equal(m.writeVirtual(regs + 48n, new Uint8Array(new BigUint64Array([flags | 0x100n]).buffer)), undefined);
    assert.equal(m.writeVirtual(regs + 144n, new Uint8Array(new BigUint64Array([flags | 0x100n]).buffer)), undefined);
    const { kernelRips } = runOneSyscall(sys);
    assert.ok(kernelRips.has(sys.kernelImage.symbols.get('swapgs_restore_regs_and_return_to_usermode') as bigint));
    assert.ok(kernelRips.has(sys.kernelImage.symbols.get('native_irq_return_iret') as bigint));
    assert.equal(sys.machine.state.gpr[GPR_INDEX.rax], 4242n);
    assert.equal(sys.machine.state.rflags & 0x100n, 0x100n, 'IRET restored TF');
  });
});

describe('end to end: config and CPU variants', () => {
  const variants: [string, string, Record<string, boolean>][] = [
    ['PAGE_TABLE_ISOLATION=n on intel', 'intel', { PAGE_TABLE_ISOLATION: false }],
    ['GCC_PLUGIN_STACKLEAK=y (stackleak_erase model)', 'intel', { GCC_PLUGIN_STACKLEAK: true }],
    ['DEBUG_ENTRY=y', 'intel', { DEBUG_ENTRY: true }],
    ['X86_5LEVEL=y on an LA57 CPU (booted 4-level)', 'intel-la57', { X86_5LEVEL: true }],
  ];
  for (const [what, cpu, config] of variants) {
    it(`${what}: the program runs to exit with the expected output (both toolchains, sample and seed)`, () => {
      for (const [entryFile, toolchain] of [[undefined, 'gnu'], [seedFile, 'gnu'], [undefined, 'kentry'], [seedFile, 'kentry']] as const) {
        const sys = bootWithGnu(cpu, { entryFile, config, toolchain });
        let out = '';
        const r = runSystem(sys, { console: (t) => (out += t), budget: 5000 });
        assert.equal(r.stop, 'exit', r.detail);
        assert.equal(out, 'Hello from ring 3, via entry_SYSCALL_64!\n');
        if (config.GCC_PLUGIN_STACKLEAK) assert.ok(r.models.some((m) => m.summary.startsWith('stackleak_erase')));
      }
    });
  }

  it('without PTI the CR3 never changes during a syscall', () => {
    const sys = bootWithGnu('intel', { config: { PAGE_TABLE_ISOLATION: false } });
    const cr3s = new Set<bigint>();
    runSystem(sys, { budget: 5000, until: (s) => (cr3s.add(s.machine.state.cr3), false) });
    assert.deepEqual([...cr3s], [sys.layout.kernelPgd | 1n]);
  });
});

describe('end to end: user PCID flush on the way out (SWITCH_TO_USER_CR3)', () => {
  /** The value each `mov %rdi, %cr3` of the return path writes (NOFLUSH never reads back from CR3). */
  function userCr3Writes(sys: BootedSystem, syscalls: number): bigint[] {
    const written: bigint[] = [];
    let returns = 0;
    let wasKernel = false;
    for (let i = 0; i < 5000 && returns < syscalls; i++) {
      const st = sys.machine.state;
      if (st.cpl === 0) {
        wasKernel = true;
        const b = sys.machine.readVirtual(st.rip, 3);
        if (b instanceof Uint8Array && b[0] === 0x0f && b[1] === 0x22 && b[2] === 0xdf) written.push(st.gpr[GPR_INDEX.rdi]);
      } else if (wasKernel) {
        returns++;
        wasKernel = false;
      }
      stepSystem(sys);
    }
    return written;
  }

  it('a pending bit in cpu_tlbstate.user_pcid_flush_mask is consumed: first CR3 write flushes, the next keeps NOFLUSH', () => {
    const sys = bootWithGnu('intel');
    const maskPhys = sys.layout.perCpuPhys + BigInt(sys.profile.perCpu.cpu_tlbstate.offset + sys.profile.asmOffsets.TLB_STATE_user_pcid_flush_mask);
    sys.machine.mem.write(maskPhys, new Uint8Array([1 << sys.profile.kernelPcid, 0])); // kernel PCID 1's user twin is stale
    const writes = userCr3Writes(sys, 2);
    const user = sys.layout.userPgd | 0x801n;
    assert.deepEqual(writes, [user, user | (1n << 63n)]);
    assert.deepEqual([...sys.machine.mem.read(maskPhys, 2)], [0, 0], 'bit cleared by btr');
    assert.equal(sys.machine.state.cr3, user);
  });
});
