/**
 * The Variables pane: scopes built from the CPU state and the decoded MachineStateView.
 * Every number's meaning comes from emulator/machine/facts (one home).
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { RFLAGS_FIELDS, fieldValue, decodeBits } from '../emulator/machine/facts';
import { GPR_NAMES } from '../emulator/machine/state';
import { SEGMENT_REGISTERS } from '../emulator/machine/facts/segments';
import type { CpuState } from '../emulator/machine/state';
import type { MachineStateView } from './protocol';

export const SCOPES = ['Registers', 'RFLAGS', 'Segments', 'MSRs', 'Control registers', 'Per-CPU & TSS', 'pt_regs', 'SYSRET checks'] as const;
export type ScopeName = (typeof SCOPES)[number];

export const hex = (v: bigint, width = 16): string => '0x' + BigInt.asUintN(64, v).toString(16).padStart(width, '0');

type Var = DebugProtocol.Variable;
const v = (name: string, value: string, extra: Partial<Var> = {}): Var => ({ name, value, variablesReference: 0, ...extra });

/** What the scopes are built from: the same for every engine. */
export interface ScopeSource {
  state: CpuState;
  view: MachineStateView;
  symbolAt(address: bigint): string | undefined;
}

export function scopeVariables(src: ScopeSource, scope: ScopeName): Var[] {
  const s = src.state;
  const view = src.view;
  switch (scope) {
    case 'Registers': {
      const regs = GPR_NAMES.map((n, i) => v(n, hex(s.gpr[i]), { evaluateName: `$${n}`, type: 'u64' }));
      const ripSym = src.symbolAt(s.rip);
      return [
        ...regs,
        v('rip', `${hex(s.rip)}${ripSym ? ` <${ripSym}>` : ''}`, { evaluateName: '$rip', type: 'u64' }),
        v('rflags', `${hex(s.rflags, 8)} [${decodeBits(s.rflags, RFLAGS_FIELDS)}]`, { evaluateName: '$rflags' }),
        v('cpl', `${s.cpl} (${s.cpl === 0 ? 'kernel' : 'user'} mode)`),
      ];
    }
    case 'RFLAGS':
      return RFLAGS_FIELDS.map((f) => v(f.name, fieldValue(s.rflags, f).toString(), { type: f.doc }));
    case 'Segments':
      return [
        ...SEGMENT_REGISTERS.map((n) => {
          const r = s.seg[n];
          return v(n, `0x${r.selector.toString(16).padStart(4, '0')} (index ${r.selector >> 3}, RPL ${r.selector & 3}) base=${hex(r.base)}`);
        }),
        v('tr', `0x${s.tr.selector.toString(16).padStart(4, '0')} base=${hex(s.tr.base)} limit=0x${s.tr.limit.toString(16)}`),
        v('gdtr', `base=${hex(s.gdtr.base)} limit=0x${s.gdtr.limit.toString(16)}`),
        v('idtr', `base=${hex(s.idtr.base)} limit=0x${s.idtr.limit.toString(16)}`),
      ];
    case 'MSRs':
      return view.msrs.map((m) => v(m.name, `${m.value}${m.decoded ? `  ${m.decoded}` : ''}`, { type: `MSR ${m.number}` }));
    case 'Control registers':
      return [
        ...view.controlRegisters.filter((c) => c.name !== 'CR3').map((c) => v(c.name, `${c.value}  ${c.decoded}`)),
        v('CR3', `${view.cr3.value}  ${view.cr3.explanation}`),
        v('CR3.pgd', view.cr3.pgd),
        v('CR3.pcid', view.cr3.pcid === undefined ? 'n/a (CR4.PCIDE=0)' : `0x${view.cr3.pcid.toString(16)}`),
        v('CR3.half', `${view.cr3.half}${view.cr3.pti ? '' : ' (PTI off: one page table)'}`),
      ];
    case 'Per-CPU & TSS':
      return [...view.tss, ...view.perCpu].map((f) => v(f.name, `${f.value}${f.decoded ? `  ${f.decoded}` : ''}`, { memoryReference: f.address }));
    case 'pt_regs':
      return [
        v('(rsp)', `${view.ptRegs.rsp} on ${view.ptRegs.rspOn}`),
        ...view.ptRegs.fields.map((f) =>
          v(`${f.field}`, f.filled ? `${f.value}${f.writtenBy ? `  ← ${f.writtenBy.text}` : ''}` : `(not yet written) ${f.value}`, {
            memoryReference: f.address,
            evaluateName: `regs->${f.field}`,
          })),
      ];
    case 'SYSRET checks':
      return view.sysretChecks.map((c) => v(c.condition, `${c.pass === undefined ? '?' : c.pass ? 'pass' : 'FAIL → IRET'}  ${c.operands}`));
  }
}
