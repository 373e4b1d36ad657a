/**
 * The expression evaluator on a hand-made machine: C precedence, casts, dereference, struct
 * paths, and errors as values. Plus the breakpoint conditions built on it.
 */
import * as assert from 'assert';
import { evaluate, type EvalContext, type EvalResult } from '../../../emulator/runtime/evaluate';
import { BreakpointBehaviour, hitConditionHolds, interpolate } from '../../../emulator/runtime/conditions';
import { newCpuState } from '../../../emulator/machine/state';
import { MSR } from '../../../emulator/machine/facts';

function context(): EvalContext {
  const state = newCpuState();
  state.gpr[0] = 39n; // rax
  state.gpr[4] = 0x1000n; // rsp
  state.rflags = 0x246n;
  state.msrs.set(MSR.LSTAR, 0xffffffff81a00000n);
  state.seg.gs.base = 0xffff888000000000n;
  const memory = new Map<bigint, number>();
  const put = (a: bigint, v: bigint, size: number): void => { for (let i = 0; i < size; i++) memory.set(a + BigInt(i), Number((v >> BigInt(8 * i)) & 0xffn)); };
  put(0x1008n, 0x1122334455667788n, 8);
  put(0x2000n + 20n, 0x7ffe0000n, 8); // cpu_tss_rw.x86_tss.sp2
  put(0x3000n + 128n, 0x401000n, 8); // pt_regs->ip
  return {
    state,
    read: (address, size) => {
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) {
        const b = memory.get(address + BigInt(i));
        if (b === undefined) return `cannot read 0x${address.toString(16)}: not mapped`;
        v = (v << 8n) | BigInt(b);
      }
      return v;
    },
    symbol: (n) => (n === 'entry_SYSCALL_64' ? 0xffffffff81a00000n : undefined),
    perCpu: (n) => (n === 'cpu_tss_rw' ? { address: 0x2000n, size: 0x3000 } : n === 'cpu_number' ? { address: 0x1008n, size: 4 } : undefined),
    ptRegsBase: () => 0x3000n,
  };
}

const value = (r: EvalResult): bigint => {
  if ('error' in r) throw new Error(r.error);
  return r.value;
};

describe('runtime: expression evaluator', () => {
  const ctx = context();
  const ev = (e: string): bigint => value(evaluate(ctx, e));

  it('C precedence and operators', () => {
    assert.strictEqual(ev('1 + 2 * 3'), 7n);
    assert.strictEqual(ev('(1 + 2) * 3'), 9n);
    assert.strictEqual(ev('1 << 4 | 1'), 17n);
    assert.strictEqual(ev('6 & 3 ^ 1'), 3n, '& binds tighter than ^');
    assert.strictEqual(ev('10 / 3 + 10 % 3'), 4n);
    assert.strictEqual(ev('-1'), 0xffffffffffffffffn);
    assert.strictEqual(ev('!0 + !5'), 1n);
    assert.strictEqual(ev('1 < 2 && 2 >= 2 || 0'), 1n);
    assert.strictEqual(ev('0 - 1 > 0'), 1n, 'values are unsigned 64-bit');
  });

  it('registers by every spelling, RFLAGS, MSRs, symbols', () => {
    assert.strictEqual(ev('$rax'), 39n);
    assert.strictEqual(ev('%rax + rax'), 78n);
    assert.strictEqual(ev('eax'), 39n);
    assert.strictEqual(ev('rflags & 0x40'), 0x40n);
    assert.strictEqual(ev('LSTAR - entry_SYSCALL_64'), 0n);
    assert.strictEqual(ev('MSR_GS_BASE'), 0xffff888000000000n, 'GS_BASE lives in the GS segment');
  });

  it('casts, dereference, address-of; lvalues report their address', () => {
    assert.strictEqual(ev('*(u64 *)($rsp + 8)'), 0x1122334455667788n);
    assert.strictEqual(ev('*(u16 *)($rsp + 8)'), 0x7788n);
    assert.strictEqual(ev('*(unsigned char *)0x100f'), 0x11n);
    assert.strictEqual(ev('(s16)0x8000'), 0xffffffffffff8000n);
    assert.strictEqual(ev('(u32)-1'), 0xffffffffn);
    const r = evaluate(ctx, '*(u32 *)0x1008');
    assert.ok(!('error' in r) && r.address === 0x1008n && r.size === 4);
    assert.strictEqual(ev('&*(u64 *)0x1008'), 0x1008n);
  });

  it('per-CPU struct paths and pt_regs fields', () => {
    assert.strictEqual(ev('this_cpu(cpu_tss_rw).x86_tss.sp2'), 0x7ffe0000n);
    const sp2 = evaluate(ctx, 'this_cpu(cpu_tss_rw).x86_tss.sp2');
    assert.ok(!('error' in sp2) && sp2.address === 0x2014n, 'sp2 is at TSS offset 20');
    assert.strictEqual(ev('this_cpu(cpu_number)'), 0x55667788n, 'a 4-byte per-CPU variable');
    assert.strictEqual(ev('regs->ip'), 0x401000n);
    const ip = evaluate(ctx, 'regs->ip');
    assert.ok(!('error' in ip) && ip.address === 0x3080n && /user RIP/.test(ip.description ?? ''));
  });

  it('errors are values with a reason', () => {
    const err = (e: string): string => {
      const r = evaluate(ctx, e);
      assert.ok('error' in r, `${e} should fail`);
      return r.error;
    };
    assert.match(err(''), /empty/);
    assert.match(err('1 +'), /unexpected end/);
    assert.match(err('(1'), /expected "\)"/);
    assert.match(err('1 $'), /unexpected/);
    assert.match(err('1 / 0'), /division by zero/);
    assert.match(err('*(u64 *)0x9999'), /cannot read 0x9999/);
    const unreadable = evaluate(ctx, '*(u32 *)0x9999');
    assert.ok('error' in unreadable && unreadable.address === 0x9999n && unreadable.size === 4, 'an unreadable lvalue still says where it is');
    const inner = evaluate(ctx, '*(u64 *)0x9999 + 1');
    assert.ok('error' in inner && inner.address === undefined, 'but not when the read is inside a bigger expression');
    assert.match(err('nosuch'), /unknown name "nosuch"/);
    assert.match(err('regs->nope'), /no field "nope"/);
    assert.match(err('(struct nope *)0'), /unknown type/);
  });

  it('hit conditions, conditions and log messages', () => {
    assert.strictEqual(hitConditionHolds('3', 3), true);
    assert.strictEqual(hitConditionHolds('== 3', 2), false);
    assert.strictEqual(hitConditionHolds('>= 2', 5), true);
    assert.strictEqual(hitConditionHolds('% 2', 4), true);
    assert.match(String(hitConditionHolds('often', 1)), /expected a number/);
    assert.strictEqual(interpolate('nr={$rax} sp2={this_cpu(cpu_tss_rw).x86_tss.sp2} bad={nosuch}', (e) => evaluate(ctx, e)), 'nr=0x27 sp2=0x7ffe0000 bad=<unknown name "nosuch">');
    const b = new BreakpointBehaviour({ condition: '$rax == 39', hitCondition: '2' });
    const e = (x: string): EvalResult => evaluate(ctx, x);
    assert.deepStrictEqual(b.reached(e), { action: 'skip' }, 'first hit');
    assert.deepStrictEqual(b.reached(e), { action: 'stop' }, 'second hit');
    const never = new BreakpointBehaviour({ condition: '$rax == 1' });
    assert.deepStrictEqual(never.reached(e), { action: 'skip' });
    assert.strictEqual(never.hits, 0, 'a false condition is not a hit');
  });
});
