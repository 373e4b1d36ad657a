/**
 * The stack diagram webview's HTML, drawn from one MachineStateView: the user stack, the
 * per-CPU trampoline stack (TSS sp0) and the task's kernel stack with struct pt_regs, and where
 * RSP is. Pure (no vscode import) so it can be tested; the panel only swaps its html on each stop.
 */
import type { FieldView, MachineStateView, PtRegsFieldView } from '../../debug-adapter/protocol';
import { parseAddress, RSP_MARK } from './rows';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A field by its name or its last dotted part ("sp0" finds "cpu_tss_rw.x86_tss.sp0"). */
function field(list: FieldView[], ...names: string[]): FieldView | undefined {
  return list.find((f) => names.some((n) => f.name === n || f.name.endsWith('.' + n)));
}

function nonZero(f: FieldView | undefined): string | undefined {
  return f && parseAddress(f.value) ? f.value : undefined;
}

type StackKind = 'user' | 'trampoline' | 'kernel';

/** Which of the three stacks RSP is on, from the adapter's "rspOn" words. */
export function stackOf(rspOn: string): StackKind | undefined {
  const s = rspOn.toLowerCase();
  if (s.includes('trampoline') || s.includes('entry_area') || s.includes('entry area')) return 'trampoline';
  if (s.includes('user')) return 'user';
  if (s.includes('kernel') || s.includes('task')) return 'kernel';
  return undefined;
}

function slotHtml(f: PtRegsFieldView, rsp: bigint | undefined): string {
  const atRsp = rsp !== undefined && parseAddress(f.address) === rsp;
  const cls = ['slot', f.filled ? 'filled' : 'empty', f.changed ? 'changed' : '', atRsp ? 'rsp' : ''].filter(Boolean).join(' ');
  const writer = f.writtenBy ? ` title="${escapeHtml(`${f.writtenBy.text.trim()} (line ${f.writtenBy.line})`)}"` : '';
  return `<div class="${cls}"${writer}><span class="addr">${escapeHtml(f.address)}</span><span class="name">${escapeHtml(f.field)}</span><span class="val">${f.filled ? escapeHtml(f.value) : '—'}</span>${atRsp ? `<span class="mark">${RSP_MARK}</span>` : ''}</div>`;
}

/** top: the stack's highest address; null when the stack has none we know of (the user's). */
function column(kind: StackKind, title: string, top: string | undefined | null, body: string, rspHere: boolean, rsp: string): string {
  return `<section class="stack ${kind}${rspHere ? ' active' : ''}" data-stack="${kind}">
  <h2>${escapeHtml(title)}</h2>
  ${top === null ? '' : `<div class="top">top ${escapeHtml(top ?? 'unknown')}</div>`}
  ${body}
  ${rspHere ? `<div class="rspline">RSP = ${escapeHtml(rsp)} ${RSP_MARK}</div>` : ''}
</section>`;
}

export function renderStackDiagram(view: MachineStateView | undefined, opts: { nonce: string; cspSource: string }): string {
  const csp = `default-src 'none'; style-src ${opts.cspSource} 'nonce-${opts.nonce}';`;
  const head = `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>kentry stacks</title><style nonce="${opts.nonce}">${STYLE}</style></head><body>`;
  if (!view) {
    return `${head}<p class="idle">No kentry session is stopped. Start debugging (F5) and the stacks are drawn on every stop.</p></body></html>`;
  }
  const p = view.ptRegs;
  const rsp = parseAddress(p.rsp);
  const on = stackOf(p.rspOn);
  const sp = p.fields.find((f) => f.field === 'sp');
  // The user RSP: RSP itself while on the user stack, else where the entry code parked it.
  const userRsp = on === 'user' ? p.rsp : sp?.filled ? sp.value : nonZero(field(view.tss, 'sp2'));
  const sp0 = field(view.tss, 'sp0');
  const top = field(view.perCpu, 'cpu_current_top_of_stack', 'top_of_stack') ?? field(view.tss, 'sp1');
  const slots = [...p.fields].sort((a, b) => compareAddressDesc(a.address, b.address));

  const user = column('user', 'User stack', null, `<div class="note">user RSP ${escapeHtml(userRsp ?? 'unknown')}${on !== 'user' && sp?.filled ? ' (saved in pt_regs-&gt;sp)' : ''}</div>`, on === 'user', p.rsp);
  const tramp = column('trampoline', 'Trampoline stack (cpu_entry_area, TSS sp0)', sp0?.value, `<div class="note">used only around the CR3 switch on exit (and entry from user via interrupts)</div>`, on === 'trampoline', p.rsp);
  const kernelBody = p.base
    ? `<div class="ptregs"><div class="label">struct pt_regs at ${escapeHtml(p.base)}</div>${slots.map((f) => slotHtml(f, rsp)).join('')}</div>`
    : `<div class="note">pt_regs not built yet</div>${slots.length ? `<div class="ptregs">${slots.map((f) => slotHtml(f, rsp)).join('')}</div>` : ''}`;
  const kernel = column('kernel', 'Kernel task stack (cpu_current_top_of_stack)', top?.value, kernelBody, on === 'kernel', p.rsp);
  return `${head}
<header><b>stop ${view.stopCount}</b> · CPL ${view.cpl} · RIP ${escapeHtml(view.rip)} · ${escapeHtml(view.where)} · RSP ${escapeHtml(p.rsp)} on ${escapeHtml(p.rspOn)}</header>
<main>${user}${tramp}${kernel}</main></body></html>`;
}

function compareAddressDesc(a: string, b: string): number {
  const x = parseAddress(a) ?? 0n;
  const y = parseAddress(b) ?? 0n;
  return x === y ? 0 : x > y ? -1 : 1;
}

const STYLE = `
body { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); color: var(--vscode-foreground); }
header { margin-bottom: 8px; }
main { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.stack { flex: 1 1 300px; border: 1px solid var(--vscode-panel-border); padding: 6px; }
.stack.active { border-color: var(--vscode-focusBorder); border-width: 2px; }
h2 { font-size: 1em; margin: 0 0 4px 0; }
.top, .note, .label { opacity: 0.8; margin: 2px 0; }
.slot { display: grid; grid-template-columns: max-content 5em 1fr auto; gap: 8px; padding: 1px 4px; border-top: 1px solid var(--vscode-panel-border); }
.slot.empty { opacity: 0.55; }
.slot.filled { background: var(--vscode-editor-inactiveSelectionBackground); }
.slot.changed .val { color: var(--vscode-charts-orange); font-weight: bold; }
.slot.rsp, .rspline { outline: 1px solid var(--vscode-charts-yellow); }
.mark, .rspline { color: var(--vscode-charts-yellow); }
.idle { opacity: 0.8; }
`;
