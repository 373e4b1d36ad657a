/**
 * The headless trace: run the user program and the kernel entry code one instruction at a time
 * and print, for each, the source line, the bytes, and what changed in registers, MSRs, TSS,
 * CR3 and pt_regs; at each return to user mode, how it returned and why.
 */
import * as path from 'path';
import { KentryRuntime, type RuntimeOptions } from '../emulator/runtime/runtime';
import { decodeOne } from '../emulator/runtime/disasm';
import { GPR_NAMES } from '../emulator/machine/state';
import { RFLAGS_FIELDS, decodeBits } from '../emulator/machine/facts';
import { formatDiagnostic } from '../debug-adapter/session';
import type { MachineStateView } from '../debug-adapter/protocol';

export interface TraceOptions extends RuntimeOptions {
  maxInstructions?: number;
  write: (line: string) => void;
}

const hex = (v: bigint): string => '0x' + BigInt.asUintN(64, v).toString(16);

interface Snapshot {
  gpr: bigint[];
  rflags: bigint;
  seg: string[];
  view: MachineStateView;
}

/** Returns the process exit code: 0 when the program ran to its exit, 1 on load errors or a fault. */
export function runTrace(opts: TraceOptions): number {
  const out = opts.write;
  const rt = new KentryRuntime(opts);
  const errors = rt.load();
  if (errors.length) {
    errors.forEach((d) => out(formatDiagnostic(d)));
    return 1;
  }
  let exitCode: number | undefined;
  let fault: string | undefined;
  rt.on('output', (text, category) => out(category === 'stdout' ? `    [program output] ${JSON.stringify(text)}` : `    ${text.trimEnd()}`));
  rt.on('exited', (code) => (exitCode = code));
  rt.on('stopped', (s) => {
    if (s.reason === 'exception') fault = `${s.description}${s.text ? `: ${s.text}` : ''}`;
  });
  const sys = rt.system;
  out(`kentry trace: kernel ${sys.profile.version} entry ${rt.defaultKernelEntry}`);
  out(`              program ${rt.defaultProgram}, cpu ${sys.cpu.name} (${sys.cpu.vendor}), features: ${[...sys.features].sort().join(' ')}`);
  for (const a of sys.alternatives) {
    const where = a.loc ? ` (${path.basename(a.loc.file)}:${a.loc.line})` : '';
    out(`              alternative at ${hex(a.instrAddress)}${where}: ${a.applied ? 'patched in' : 'left as is'}: ${a.reason}`);
  }
  const max = opts.maxInstructions ?? 100_000;
  let before = snapshot(rt);
  for (let n = 0; n < max && exitCode === undefined && fault === undefined; n++) {
    const rip = sys.machine.state.rip;
    const model = sys.models.get(rip);
    const checksBefore = before.view.sysretChecks;
    out(describeInstruction(rt, rip, model?.symbol));
    rt.stepInstruction();
    if (exitCode !== undefined || fault !== undefined) break;
    const after = snapshot(rt);
    for (const line of diff(before, after)) out(`      ${line}`);
    const t = rt.lastTransition;
    if (t && t.rip === rip) {
      if (t.kind === 'syscall') {
        const nr = after.gpr[0];
        out(`  ==> SYSCALL: ring 3 -> ring 0, RIP = LSTAR (${rt.symbolAt(after.view.rip ? BigInt(after.view.rip) : 0n) ?? '?'}), syscall nr ${nr} (${sys.profile.syscalls.find((c) => c.nr === Number(nr))?.name ?? 'unknown'})`);
      } else if (t.to === 3) {
        out(`  <== ${t.kind.toUpperCase()}: back to ring 3 at ${rt.describeAddress(sys.machine.state.rip)}, rax = ${hex(after.gpr[0])}`);
        out(`      why ${t.kind.toUpperCase()}: ${explainReturn(t.kind, checksBefore)}`);
      }
    }
    before = after;
  }
  if (fault) {
    out(`stopped: ${fault}`);
    return 1;
  }
  if (exitCode === undefined) {
    out(`stopped after ${max} instructions without the program exiting`);
    return 1;
  }
  out(`program exited with code ${exitCode} after ${sys.machine.instructionsRetired} instructions`);
  return 0;
}

function explainReturn(kind: string, checks: MachineStateView['sysretChecks']): string {
  const failed = checks.filter((c) => c.pass === false);
  if (kind === 'sysret') return `every opportunistic-SYSRET check passed (${checks.map((c) => c.condition).join('; ')})`;
  if (failed.length) return `the entry code fell back to IRET because ${failed.map((c) => `"${c.condition}" failed (${c.operands})`).join(', ')}`;
  return 'the entry code took the IRET path (swapgs_restore_regs_and_return_to_usermode)';
}

function describeInstruction(rt: KentryRuntime, rip: bigint, model: string | undefined): string {
  const ring = rt.system.machine.state.cpl;
  if (model) return `[ring ${ring}] ${hex(rip)}  ${model}: TypeScript model of the C function (not executed code)`;
  const line = rt.lineOf(rip);
  const insn = decodeOne(rt.system.machine, rip);
  const bytes = insn ? [...insn.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ') : '??';
  const where = line
    ? [...line.stack.filter((f) => f.kind !== 'include').map((f) => `${path.basename(f.loc.file)}:${f.loc.line} ${f.name} >`), `${path.basename(line.loc.file)}:${line.loc.line}`].join(' ')
    : '(no source)';
  return `[ring ${ring}] ${hex(rip)}  ${bytes.padEnd(30)} ${(line?.text ?? insn?.text ?? '?').padEnd(44)} ${where}`;
}

function snapshot(rt: KentryRuntime): Snapshot {
  const s = rt.system.machine.state;
  return {
    gpr: s.gpr.slice(),
    rflags: s.rflags,
    seg: (['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const).map((n) => `${n}=0x${s.seg[n].selector.toString(16)}`),
    view: rt.machineState(),
  };
}

function diff(a: Snapshot, b: Snapshot): string[] {
  const lines: string[] = [];
  GPR_NAMES.forEach((n, i) => {
    if (a.gpr[i] !== b.gpr[i]) lines.push(`${n}: ${hex(a.gpr[i])} -> ${hex(b.gpr[i])}`);
  });
  if (a.rflags !== b.rflags) lines.push(`rflags: [${decodeBits(a.rflags, RFLAGS_FIELDS)}] -> [${decodeBits(b.rflags, RFLAGS_FIELDS)}]`);
  a.seg.forEach((s, i) => {
    if (s !== b.seg[i]) lines.push(`segment ${s} -> ${b.seg[i]}`);
  });
  for (const m of b.view.msrs) if (m.changed) lines.push(`MSR ${m.name}: ${a.view.msrs.find((x) => x.name === m.name)?.value} -> ${m.value} ${m.decoded}`);
  for (const f of [...b.view.tss, ...b.view.perCpu]) if (f.changed) lines.push(`per-CPU ${f.name} @${f.address}: -> ${f.value} ${f.decoded}`);
  if (b.view.cr3.changed) lines.push(`CR3: ${a.view.cr3.value} -> ${b.view.cr3.value} (${b.view.cr3.explanation})`);
  for (const c of b.view.controlRegisters) if (c.changed && c.name !== 'CR3') lines.push(`${c.name}: -> ${c.value} ${c.decoded}`);
  for (const f of b.view.ptRegs.fields) if (f.changed && f.filled) lines.push(`pt_regs->${f.field} @${f.address} = ${f.value}`);
  return lines;
}
