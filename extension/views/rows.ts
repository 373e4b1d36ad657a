/**
 * What each kentry view shows, as plain data (Row trees) built from one MachineStateView.
 * The TreeDataProviders only translate Rows to vscode.TreeItems, so everything a user reads in
 * the views is decided here and unit-testable without VS Code.
 */
import type {
  FieldView,
  MachineStateView,
  MsrView,
  PtRegsFieldView,
  SysretCheckView,
} from '../../debug-adapter/protocol';
import { X86_HW_TSS } from '../../emulator/machine/facts';
import type { PageWalkRecord } from '../state/machineStateStore';

/** Appended to the description of a value that differs from the previous stop. */
export const CHANGED_MARK = '← changed';
/** Appended to the pt_regs slot RSP points at. */
export const RSP_MARK = '← RSP';

export type RowIcon =
  | 'value' // an ordinary value
  | 'changed' // a value that changed since the previous stop
  | 'filled' // a pt_regs slot already written
  | 'empty' // a pt_regs slot not written yet
  | 'pass'
  | 'fail'
  | 'pending'
  | 'group'
  | 'pointer' // a stack pointer
  | 'action'; // a row that runs a command

export interface Row {
  /** Stable across stops, so VS Code keeps expansion state. */
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip?: string;
  icon?: RowIcon;
  children?: Row[];
  /** Initial state of a row with children (default: collapsed). */
  expanded?: boolean;
  /** Clicking the row reveals this source line (1-based). */
  reveal?: { file: string; line: number };
  /** Clicking the row runs this command (no arguments). */
  command?: { id: string; title: string };
  /** How the value can be changed, when the adapter allows it (the view's edit action). */
  edit?: EditTarget;
}

/**
 * A value the user may change: a register or MSR through DAP setVariable in one of the adapter's
 * scopes, or bytes in memory (TSS fields, per-CPU variables, pt_regs slots) through writeMemory.
 */
export type EditTarget =
  | { kind: 'variable'; scope: 'MSRs' | 'Control registers'; name: string; current: string }
  | { kind: 'memory'; address: string; size: number; name: string; current: string };

/** Sizes of the per-CPU variables the Per-CPU view lists (the TSS fields' come from the facts). */
const PER_CPU_SIZES: Record<string, number> = {
  'cpu_tlbstate.user_pcid_flush_mask': 2,
  'cpu_tlbstate.loaded_mm_asid': 2,
  cpu_number: 4,
};

function fieldSize(name: string): number {
  const tss = /^cpu_tss_rw\.x86_tss\.(.+)$/.exec(name);
  if (tss) return X86_HW_TSS.find((f) => f.field === tss[1])?.size ?? 8;
  return PER_CPU_SIZES[name] ?? 8;
}

/** Marks come first: a narrow sidebar cuts the end of a description off. */
function describe(value: string, decoded: string | undefined, changed: boolean): string {
  const parts = changed ? [CHANGED_MARK, value] : [value];
  if (decoded) parts.push(decoded);
  return parts.join('  ');
}

function leaf(id: string, label: string, description: string, tooltip?: string): Row {
  return { id, label, description, tooltip, icon: 'value' };
}

// ---------------------------------------------------------------- MSRs

export function msrRows(view: MachineStateView): Row[] {
  return view.msrs.map(msrRow);
}

function msrRow(m: MsrView): Row {
  const id = `msr/${m.name}`;
  return {
    id,
    label: m.name,
    description: describe(m.value, m.decoded, m.changed),
    tooltip: `**${m.name}** (MSR ${m.number}) = \`${m.value}\`\n\n${m.decoded ? m.decoded + '\n\n' : ''}${m.doc}`,
    icon: m.changed ? 'changed' : 'value',
    edit: { kind: 'variable', scope: 'MSRs', name: m.name, current: m.value },
    children: [
      leaf(`${id}/number`, 'number', m.number),
      leaf(`${id}/value`, 'value', m.value),
      ...(m.decoded ? [leaf(`${id}/decoded`, 'decoded', m.decoded)] : []),
    ],
  };
}

// ---------------------------------------------------------------- Per-CPU & TSS

export function perCpuRows(view: MachineStateView): Row[] {
  return [
    {
      id: 'tss',
      label: 'TSS (cpu_tss_rw)',
      description: view.tss.some((f) => f.changed) ? CHANGED_MARK : undefined,
      icon: 'group',
      expanded: true,
      children: view.tss.map((f) => fieldRow('tss', f, shortName(f.name))),
    },
    {
      id: 'percpu',
      label: 'Per-CPU variables',
      description: view.perCpu.some((f) => f.changed) ? CHANGED_MARK : undefined,
      icon: 'group',
      expanded: true,
      children: view.perCpu.map((f) => fieldRow('percpu', f)),
    },
  ];
}

/** "cpu_tss_rw.x86_tss.sp0" reads as "sp0" under the TSS heading; the tooltip keeps the full name. */
function shortName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

function fieldRow(prefix: string, f: FieldView, label = f.name): Row {
  return {
    id: `${prefix}/${f.name}`,
    label,
    description: describe(f.value, f.decoded, f.changed),
    tooltip: `**${f.name}** at \`${f.address}\` = \`${f.value}\`\n\n${f.decoded ? f.decoded + '\n\n' : ''}${f.doc}`,
    icon: f.changed ? 'changed' : 'value',
    edit: { kind: 'memory', address: f.address, size: fieldSize(f.name), name: f.name, current: f.value },
  };
}

// ---------------------------------------------------------------- CR3 & paging

export const WALK_COMMAND = 'kentry.walkPageTables';

export function pagingRows(view: MachineStateView, walk?: PageWalkRecord): Row[] {
  const c = view.cr3;
  const cr3: Row = {
    id: 'cr3',
    label: 'CR3',
    description: describe(c.value, `${c.half} half`, c.changed),
    tooltip: `**CR3** = \`${c.value}\`\n\n${c.explanation}`,
    icon: c.changed ? 'changed' : 'value',
    edit: { kind: 'variable', scope: 'Control registers', name: 'CR3', current: c.value },
    expanded: true,
    children: [
      leaf('cr3/pgd', 'PGD', c.pgd, 'Physical address of the top-level page table (CR3 bits 51:12).'),
      leaf('cr3/pcid', 'PCID', c.pcid === undefined ? 'off (CR4.PCIDE clear)' : String(c.pcid), 'Process-context identifier (CR3 bits 11:0) when CR4.PCIDE is set.'),
      leaf('cr3/half', 'KPTI half', c.pti ? `${c.half} page tables` : 'no KPTI (one PGD)', 'With page-table isolation each process has a kernel PGD and a user PGD; the entry code switches between them.'),
      leaf('cr3/noflush', 'NOFLUSH', c.noflush ? 'set (bit 63: keep TLB entries of this PCID)' : 'clear', 'CR3 bit 63: when set with PCIDE, loading CR3 does not flush the PCID\'s TLB entries.'),
      leaf('cr3/explanation', 'why', c.explanation),
    ],
  };
  const controls = view.controlRegisters
    .filter((r) => r.name !== 'CR3')
    .map<Row>((r) => ({
      id: `cr/${r.name}`,
      label: r.name,
      description: describe(r.value, r.decoded, r.changed),
      tooltip: `**${r.name}** = \`${r.value}\`\n\n${r.decoded}`,
      icon: r.changed ? 'changed' : 'value',
      edit: { kind: 'variable', scope: 'Control registers', name: r.name, current: r.value },
    }));
  const rows: Row[] = [cr3, ...controls];
  rows.push({
    id: 'walk',
    label: 'Walk page tables…',
    description: walk ? `last: ${walk.address}` : undefined,
    icon: 'action',
    command: { id: WALK_COMMAND, title: 'Walk page tables…' },
    expanded: true,
    children: walk ? pageWalkRows(walk) : undefined,
  });
  return rows;
}

export function pageWalkRows(walk: PageWalkRecord): Row[] {
  return walk.results.map<Row>((r) => ({
    id: `walk/${r.half}`,
    label: `${r.half} half`,
    description: r.fault ? `fault: ${r.fault}` : `→ ${r.physical ?? '?'}`,
    icon: r.fault ? 'fail' : 'pass',
    expanded: true,
    children: r.levels.map((l, i) =>
      leaf(`walk/${r.half}/${i}`, l.level, `${l.entry}  ${l.decoded}`, `entry at \`${l.entryAddress}\` = \`${l.entry}\`\n\n${l.decoded}`),
    ),
  }));
}

/** A page walk as Markdown, for the notification/document the walk command shows. */
export function formatPageWalk(walk: PageWalkRecord): string {
  const out = [`# Page walk of ${walk.address}`, ''];
  for (const r of walk.results) {
    out.push(`## ${r.half} page tables`, '', '| level | entry at | entry | meaning |', '|---|---|---|---|');
    for (const l of r.levels) out.push(`| ${l.level} | ${l.entryAddress} | ${l.entry} | ${l.decoded} |`);
    out.push('', r.fault ? `**fault:** ${r.fault}` : `**physical:** ${r.physical ?? 'unknown'}`, '');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- pt_regs

export function parseAddress(text: string | undefined): bigint | undefined {
  if (!text) return undefined;
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) return undefined;
  return BigInt(t);
}

export function ptRegsRows(view: MachineStateView): Row[] {
  const p = view.ptRegs;
  const rsp = parseAddress(p.rsp);
  const rows: Row[] = [
    {
      id: 'ptregs/rsp',
      label: 'RSP',
      description: `${p.rsp}  on ${p.rspOn}`,
      tooltip: `RSP = \`${p.rsp}\`, on the ${p.rspOn}.`,
      icon: 'pointer',
    },
    {
      id: 'ptregs/base',
      label: 'pt_regs',
      description: p.base ? `at ${p.base}` : 'not built yet',
      tooltip: 'struct pt_regs: the user registers the entry code saves on the kernel stack, and what do_syscall_64 receives as its second argument.',
      icon: 'group',
    },
  ];
  for (const f of p.fields) rows.push(ptRegsFieldRow(f, rsp));
  return rows;
}

function ptRegsFieldRow(f: PtRegsFieldView, rsp: bigint | undefined): Row {
  const atRsp = rsp !== undefined && parseAddress(f.address) === rsp;
  const parts: string[] = [];
  if (atRsp) parts.push(RSP_MARK);
  if (f.changed) parts.push(CHANGED_MARK);
  parts.push(f.filled ? f.value : '— not written');
  const w = f.writtenBy;
  const tooltip = [
    `**pt_regs->${f.field}** (${f.asmName}, offset ${f.offset}) at \`${f.address}\``,
    f.filled ? `value \`${f.value}\`` : 'not written yet',
    w ? `written by \`${w.text.trim()}\` at ${w.address} (${baseName(w.file)}:${w.line})` : '',
    f.doc,
  ]
    .filter(Boolean)
    .join('\n\n');
  return {
    id: `ptregs/${f.field}`,
    label: f.field,
    description: parts.join('  '),
    tooltip,
    icon: f.changed ? 'changed' : f.filled ? 'filled' : 'empty',
    edit: { kind: 'memory', address: f.address, size: 8, name: `pt_regs->${f.field}`, current: f.value },
    children: [
      leaf(`ptregs/${f.field}/address`, 'address', `${f.address} (+${f.offset}, ${f.asmName})`),
      ...(w
        ? [{ ...leaf(`ptregs/${f.field}/writer`, 'written by', `${w.text.trim()}  ${baseName(w.file)}:${w.line}`), reveal: { file: w.file, line: w.line } }]
        : []),
    ],
    reveal: w ? { file: w.file, line: w.line } : undefined,
  };
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

// ---------------------------------------------------------------- SYSRET checks

export function sysretRows(view: MachineStateView): Row[] {
  return view.sysretChecks.map((c, i) => sysretRow(c, i));
}

function sysretRow(c: SysretCheckView, i: number): Row {
  const verdict = c.pass === undefined ? 'not checked yet' : c.pass ? 'pass' : 'FAIL → IRET path';
  return {
    id: `sysret/${i}`,
    label: c.condition,
    description: `${verdict}  ${c.operands}`,
    tooltip: `**${c.condition}**\n\n${c.operands}\n\n${verdict}`,
    icon: c.pass === undefined ? 'pending' : c.pass ? 'pass' : 'fail',
  };
}

/** One line per row, indented by depth: what a user reading a fully expanded view sees. */
export function rowsToText(rows: Row[], depth = 0): string {
  return rows
    .map((r) => {
      const line = `${'  '.repeat(depth)}${r.label}${r.description ? '  ' + r.description : ''}`;
      return r.children?.length ? `${line}\n${rowsToText(r.children, depth + 1)}` : line;
    })
    .join('\n');
}
