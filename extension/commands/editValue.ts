/**
 * "Edit value" on a kentry view row: an MSR or control register through DAP setVariable (in the
 * adapter's scope of that name), a TSS field, per-CPU variable or pt_regs slot through DAP
 * writeMemory. The action only shows when the adapter declared the capability (context keys set
 * by MachineStateTracker); the views refresh from the adapter afterwards.
 */
import * as vscode from 'vscode';
import type { MachineStateTracker } from '../debug/machineStateTracker';
import { DEBUG_TYPE } from '../debug/launchDefaults';
import type { EditTarget, Row } from '../views/rows';
import { leadingNumber, littleEndian, toBase64 } from './memoryBytes';

export type EditResult = { ok: true } | { error: string };

async function topFrameId(session: vscode.DebugSession): Promise<number> {
  const item = vscode.debug.activeStackItem;
  if (item instanceof vscode.DebugStackFrame && item.session.id === session.id) return item.frameId;
  const threads = (await session.customRequest('threads')) as { threads: { id: number }[] };
  const st = (await session.customRequest('stackTrace', { threadId: threads.threads[0].id, levels: 1 })) as { stackFrames: { id: number }[] };
  return st.stackFrames[0].id;
}

async function setVariable(session: vscode.DebugSession, t: Extract<EditTarget, { kind: 'variable' }>, value: string): Promise<void> {
  const scopes = (await session.customRequest('scopes', { frameId: await topFrameId(session) })) as { scopes: { name: string; variablesReference: number }[] };
  const scope = scopes.scopes.find((s) => s.name === t.scope);
  if (!scope) throw new Error(`the adapter has no "${t.scope}" scope`);
  await session.customRequest('setVariable', { variablesReference: scope.variablesReference, name: t.name, value });
}

async function writeMemory(session: vscode.DebugSession, t: Extract<EditTarget, { kind: 'memory' }>, value: string): Promise<void> {
  // The adapter's evaluator reads what the user typed, so `$rsp + 8` or `entry_SYSCALL_64` work too.
  let n = /^-?(0x[0-9a-f_]+|\d[\d_]*)$/i.test(value) ? leadingNumber(value) : undefined;
  if (n === undefined) {
    const r = (await session.customRequest('evaluate', { expression: value, context: 'repl' })) as { result: string };
    n = leadingNumber(r.result);
    if (n === undefined) throw new Error(`"${value}" evaluates to ${r.result}, not a number`);
  }
  const bytes = littleEndian(n, t.size);
  if (!(bytes instanceof Uint8Array)) throw new Error(bytes.error);
  await session.customRequest('writeMemory', { memoryReference: t.address, offset: 0, data: toBase64(bytes) });
}

/**
 * @param row the row the action was invoked on (VS Code passes the tree element)
 * @param value when given (tests, keybindings), no input box is shown
 */
export async function editValue(tracker: MachineStateTracker, row: Row | undefined, value?: string): Promise<EditResult | undefined> {
  const session = vscode.debug.activeDebugSession;
  const t = row?.edit;
  if (!t || session?.type !== DEBUG_TYPE) return undefined;
  const caps = tracker.editCapabilities(session);
  if (t.kind === 'variable' ? !caps.supportsSetVariable : !caps.supportsWriteMemoryRequest) {
    const error = `the debug adapter cannot ${t.kind === 'variable' ? 'set registers' : 'write memory'}`;
    void vscode.window.showWarningMessage(`kentry: ${error}.`);
    return { error };
  }
  const typed =
    value ??
    (await vscode.window.showInputBox({
      title: `kentry: set ${t.name}`,
      prompt: t.kind === 'memory' ? `New value (${t.size} bytes at ${t.address}); an expression such as $rsp + 8 works` : 'New value; an expression works',
      value: t.current,
    }));
  if (typed === undefined || typed.trim() === '') return undefined;
  try {
    if (t.kind === 'variable') await setVariable(session, t, typed.trim());
    else await writeMemory(session, t, typed.trim());
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    void vscode.window.showErrorMessage(`kentry: could not set ${t.name}: ${error}`);
    return { error };
  }
  await tracker.refresh(session);
  return { ok: true };
}
