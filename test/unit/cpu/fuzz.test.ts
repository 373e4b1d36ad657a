/**
 * Random instruction bytes at CPL 0 and CPL 3: step() must never throw, never report an internal
 * error, and an exception must leave the registers exactly as before the instruction (fault
 * semantics) - string instructions excepted, whose REP progress is architectural.
 */
import { strict as assert } from 'assert';
import { cloneCpuState } from '../../../emulator/machine/state';
import { KERNEL_CODE, KERNEL_DATA, USER_CODE, USER_STACK_TOP, enterKernel, hex, testMachine } from './harness';

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const STRING_OPCODES = new Set([0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]);

describe('cpu: random instruction bytes', () => {
  for (const mode of ['kernel', 'user'] as const) {
    it(`${mode} mode: no throw, no internal error, faults roll back`, () => {
      const next = rng(mode === 'kernel' ? 12345 : 67890);
      const { m } = testMachine();
      const problems: string[] = [];
      const interesting = [0n, 1n, KERNEL_DATA + 0x100n, USER_STACK_TOP - 0x80n, 0x0000800000000000n, 0xffffffffffffffffn, 0x7fn];
      for (let i = 0; i < 1500; i++) {
        const bytes = new Uint8Array(16);
        for (let j = 0; j < 16; j++) bytes[j] = next() & 0xff;
        if (i % 3 === 0) bytes[0] = 0x48; // REX.W-heavy: more 64-bit forms
        const code = mode === 'kernel' ? KERNEL_CODE + 0x100n : USER_CODE + 0x100n;
        m.writeVirtual(code, bytes);
        if (mode === 'kernel') enterKernel(m);
        else {
          const t = testMachine().m; // fresh user-mode segment state
          m.state.seg = t.state.seg;
          m.state.cpl = 3;
        }
        m.halted = false;
        m.state.rip = code;
        for (let r = 0; r < 16; r++) if (r !== 4) m.state.gpr[r] = interesting[next() % interesting.length];
        m.state.gpr[4] = mode === 'kernel' ? KERNEL_DATA + 0x4000n : USER_STACK_TOP - 0x80n;
        m.state.rflags = 0x202n | BigInt(next() & 0x8d5);
        const before = cloneCpuState(m.state);
        let r;
        try {
          r = m.step();
        } catch (e) {
          problems.push(`${Buffer.from(bytes).toString('hex')}: threw ${(e as Error).message}`);
          continue;
        }
        if (r.kind === 'exception') {
          if (/internal kentry error/.test(r.message)) problems.push(`${Buffer.from(bytes).toString('hex')}: ${r.message}`);
          const isString = bytes.some((b, k) => k < 4 && STRING_OPCODES.has(b));
          if (!isString && r.vector !== 1) {
            const s = m.state;
            const same = s.rip === before.rip && s.rflags === before.rflags && s.gpr.every((v, k) => v === before.gpr[k])
              && s.cpl === before.cpl && s.seg.cs.selector === before.seg.cs.selector && s.seg.ss.selector === before.seg.ss.selector;
            if (!same) problems.push(`${Buffer.from(bytes).toString('hex')}: ${r.name} but state changed (rip ${hex(s.rip)})`);
          }
        }
        // Keep the machine usable: restore paging/system state a random instruction may have changed.
        const fresh = testMachine().m.state;
        m.state.cr0 = fresh.cr0; m.state.cr3 = fresh.cr3; m.state.cr4 = fresh.cr4;
        m.state.msrs = new Map(fresh.msrs);
        m.state.gdtr = fresh.gdtr; m.state.idtr = fresh.idtr; m.state.tr = fresh.tr;
        m.tlb.flushAll(true);
      }
      assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
    });
  }
});
