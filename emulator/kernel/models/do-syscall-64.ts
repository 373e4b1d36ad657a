/**
 * do_syscall_64(nr, regs) of Linux 5.8 (arch/x86/entry/common.c), modelled: read nr from %rdi
 * and the pt_regs pointer from %rsi as the C function receives them, run the system call
 * against pt_regs, store the result in regs->ax, then return like the compiled function.
 * Supported: getpid, read (fd 0: end of file), write (fd 1/2), exit, exit_group; any other
 * number leaves -ENOSYS.
 */
import { PT_REGS_BY_ASM_NAME } from '../../machine/facts/pt-regs';
import { RFLAGS } from '../../machine/facts/rflags';
import { SELECTOR } from '../../machine/facts';
import { translate } from '../../machine/paging';
import { GPR_INDEX } from '../../machine/state';
import type { Machine } from '../../machine/machine';
import { writeLE } from '../../machine/memory';
import { syscallByNumber, type KernelProfile } from '../profiles';
import { returnFromModel } from './c-abi';
import type { KernelModel, ModelContext, ModelOutcome } from './types';

const slot = (name: string): bigint => BigInt((PT_REGS_BY_ASM_NAME.get(name) as { offset: number }).offset);

/** Largest write() the model copies (the rest is reported as a short write, as a pipe might). */
const MAX_WRITE = 64 * 1024;

function readRegs(m: Machine, regs: bigint, name: string): bigint | string {
  const v = m.readU64Virtual(regs + slot(name));
  return typeof v === 'bigint' ? v : `pt_regs->${name} at 0x${(regs + slot(name)).toString(16)} unreadable: ${v.message}`;
}

/**
 * copy_from_user(): access_ok() (the range lies below TASK_SIZE_MAX), then a supervisor read
 * through the current page table with RFLAGS.AC set for the copy (stac ... clac), so SMAP
 * allows it exactly as for the kernel's user-copy routines. Returns the bytes or -errno.
 */
export function copyFromUser(m: Machine, profile: KernelProfile, addr: bigint, len: number): Uint8Array | number {
  const EFAULT = -profile.errno.EFAULT;
  if (addr + BigInt(len) > profile.layout.taskSizeMax || addr + BigInt(len) < addr) return EFAULT;
  const s = m.state;
  const savedFlags = s.rflags;
  s.rflags |= RFLAGS.AC; // stac
  try {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const va = addr + BigInt(done);
      const t = translate(s, m.mem, m.tlb, va, { kind: 'read', user: false });
      if ('fault' in t) return EFAULT;
      const n = Math.min(len - done, 4096 - Number(va & 0xfffn));
      out.set(m.mem.read(t.phys, n), done);
      done += n;
    }
    return out;
  } finally {
    s.rflags = savedFlags; // clac
  }
}

interface SyscallResult {
  value: bigint;
  summary: string;
  exit?: number;
}

function runSyscall(ctx: ModelContext, nr: bigint, regs: bigint): SyscallResult | string {
  const { machine: m, profile } = ctx.system;
  const info = syscallByNumber(profile, nr);
  const arg = (name: string): bigint | string => readRegs(m, regs, name);
  const ENOSYS = BigInt(-profile.errno.ENOSYS);
  switch (info?.name) {
    case 'getpid':
      return { value: BigInt(profile.pid), summary: `getpid() = ${profile.pid}` };
    case 'read': {
      // No input is attached to the emulated process: fd 0 is at end of file.
      const fd = arg('RDI');
      if (typeof fd === 'string') return fd;
      const ok = BigInt.asUintN(32, fd) === 0n;
      return ok
        ? { value: 0n, summary: 'read(0, ...) = 0 (end of file: no input is attached)' }
        : { value: BigInt(-profile.errno.EBADF), summary: `read(${fd}, ...) = -EBADF (only fd 0 is open for reading)` };
    }
    case 'write': {
      const fd = arg('RDI'), buf = arg('RSI'), count = arg('RDX');
      if (typeof fd === 'string') return fd;
      if (typeof buf === 'string') return buf;
      if (typeof count === 'string') return count;
      const call = `write(${fd}, 0x${buf.toString(16)}, ${count})`;
      if (BigInt.asUintN(32, fd) !== 1n && BigInt.asUintN(32, fd) !== 2n) {
        return { value: BigInt(-profile.errno.EBADF), summary: `${call} = -EBADF (only fds 1 and 2, the debug console, are open)` };
      }
      const len = count > BigInt(MAX_WRITE) ? MAX_WRITE : Number(count);
      const bytes = copyFromUser(m, profile, buf, len);
      if (typeof bytes === 'number') return { value: BigInt(bytes), summary: `${call} = -EFAULT (copy_from_user failed)` };
      ctx.console(new TextDecoder().decode(bytes));
      return { value: BigInt(len), summary: `${call} = ${len}` };
    }
    case 'exit':
    case 'exit_group': {
      const code = arg('RDI');
      if (typeof code === 'string') return code;
      const status = Number(BigInt.asUintN(8, code));
      return { value: 0n, summary: `${info.name}(${BigInt.asIntN(32, code)}): the process exits with status ${status}`, exit: status };
    }
    default:
      return { value: ENOSYS, summary: `syscall ${nr} (${info?.name ?? 'not in the table'}) = -ENOSYS` };
  }
}

/** One of the SYSRET conditions do_syscall_64() checks in C since 6.7 (arch/x86/entry/common.c). */
export interface SysretCondition { condition: string; pass: boolean }

/** The 6.7+ C checks on pt_regs after the system call: all must hold for SYSRET, else IRET. */
export function sysretConditionsInC(m: Machine, profile: KernelProfile, regs: bigint): SysretCondition[] | string {
  const v: Record<string, bigint> = {};
  for (const name of ['RCX', 'RIP', 'R11', 'EFLAGS', 'CS', 'SS']) {
    const x = readRegs(m, regs, name);
    if (typeof x === 'string') return x;
    v[name] = x;
  }
  return [
    { condition: 'regs->cx == regs->ip && regs->r11 == regs->flags', pass: v.RCX === v.RIP && v.R11 === v.EFLAGS },
    { condition: 'regs->cs == __USER_CS && regs->ss == __USER_DS', pass: v.CS === BigInt(SELECTOR.__USER_CS) && v.SS === BigInt(SELECTOR.__USER_DS) },
    { condition: 'regs->ip < TASK_SIZE_MAX', pass: v.RIP < profile.layout.taskSizeMax },
    { condition: '!(regs->flags & (X86_EFLAGS_RF | X86_EFLAGS_TF))', pass: (v.EFLAGS & (RFLAGS.RF | RFLAGS.TF)) === 0n },
  ];
}

export function doSyscall64Model(profile: KernelProfile): KernelModel {
  const abi = profile.doSyscall64;
  const argReg = (name: 'nr' | 'regs'): number => GPR_INDEX[abi.argRegisters[abi.argNames.indexOf(name)] as 'rdi' | 'rsi'];
  return {
    symbol: 'do_syscall_64',
    description: `${abi.signature}: modelled in TypeScript (getpid, read, write, exit, exit_group; others -ENOSYS)`,
    run(ctx: ModelContext): ModelOutcome {
      const m = ctx.system.machine;
      const regs = m.state.gpr[argReg('regs')];
      // 5.9+: `int nr` (movslq %eax, %rsi); 5.8: unsigned long nr.
      const rawNr = m.state.gpr[argReg('nr')];
      const nr = abi.argNames[0] === 'regs' ? BigInt.asIntN(32, rawNr) : rawNr;
      const result = runSyscall(ctx, nr, regs);
      if (typeof result === 'string') return { kind: 'error', message: `do_syscall_64: ${result}` };
      const note = ' (modelled in TypeScript, not executed)';
      if (result.exit !== undefined) return { kind: 'exit', code: result.exit, summary: result.summary + note };
      // regs->ax = result (only for numbers below NR_syscalls in the kernel; -ENOSYS stays either way).
      const err = m.writeVirtual(regs + slot('RAX'), writeLE(result.value, 8));
      if (err) return { kind: 'error', message: `do_syscall_64: cannot write pt_regs->ax: ${err.message}` };
      let ret = result.value;
      let summary = result.summary;
      if (abi.returnsBool) {
        const checks = sysretConditionsInC(m, profile, regs);
        if (typeof checks === 'string') return { kind: 'error', message: `do_syscall_64: ${checks}` };
        const failed = checks.filter((c) => !c.pass);
        ret = failed.length ? 0n : 1n;
        summary += failed.length
          ? `; returns false (IRET): ${failed.map((c) => c.condition).join(', ')} does not hold`
          : '; returns true: every SYSRET condition holds';
      }
      const retErr = returnFromModel(m, ret);
      if (retErr) return { kind: 'error', message: `do_syscall_64: ${retErr}` };
      return { kind: 'return', summary: summary + note };
    },
  };
}

/** stackleak_erase(): with CONFIG_GCC_PLUGIN_STACKLEAK the entry code calls it; modelled as a plain return. */
export function stackleakEraseModel(): KernelModel {
  return {
    symbol: 'stackleak_erase',
    description: 'void stackleak_erase(void): would poison the used part of the task stack; modelled as a no-op return',
    run(ctx: ModelContext): ModelOutcome {
      const m = ctx.system.machine;
      const err = returnFromModel(m, m.state.gpr[GPR_INDEX.rax]);
      return err ? { kind: 'error', message: `stackleak_erase: ${err}` } : { kind: 'return', summary: 'stackleak_erase() (modelled in TypeScript, not executed)' };
    },
  };
}

