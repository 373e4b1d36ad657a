/**
 * "kentry: Walk page tables…": asks for a virtual address, has the adapter walk it through the
 * user and the kernel PGD (PAGE_WALK_REQUEST), and shows the levels in the CR3 & Paging view and
 * as a Markdown table beside the editor.
 */
import * as vscode from 'vscode';
import { PAGE_WALK_REQUEST, PageWalkArguments, PageWalkResult } from '../../debug-adapter/protocol';
import { DEBUG_TYPE } from '../debug/launchDefaults';
import type { MachineStateTracker } from '../debug/machineStateTracker';
import type { MachineStateStore, PageWalkRecord } from '../state/machineStateStore';
import { evaluateAt, stoppedKentrySession } from '../hover/liveValueHover';
import { formatPageWalk, parseAddress } from '../views/rows';
import { leadingNumber } from './memoryBytes';

function activeKentrySession(): vscode.DebugSession | undefined {
  const s = vscode.debug.activeDebugSession;
  return s?.type === DEBUG_TYPE ? s : undefined;
}

/** The adapter may answer with one result, a list, or { results }: accept each. */
export function pageWalkResults(body: unknown): PageWalkResult[] {
  if (Array.isArray(body)) return body as PageWalkResult[];
  if (body && typeof body === 'object') {
    const o = body as { results?: unknown; levels?: unknown };
    if (Array.isArray(o.results)) return o.results as PageWalkResult[];
    if (Array.isArray(o.levels)) return [body as PageWalkResult];
  }
  return [];
}

/**
 * @param address when given (tests, other commands) no input box is shown.
 * @param show when false, the Markdown table is not opened.
 */
export async function walkPageTables(store: MachineStateStore, address?: string, show = true): Promise<PageWalkRecord | undefined> {
  const session = activeKentrySession();
  if (!session) {
    void vscode.window.showWarningMessage('kentry: start a kentry debug session (F5) to walk its page tables.');
    return undefined;
  }
  const target =
    address ??
    (await vscode.window.showInputBox({
      title: 'kentry: Walk page tables',
      prompt: 'Virtual address to translate through the user and the kernel page tables',
      value: store.current?.rip,
      validateInput: (v) => (parseAddress(v) === undefined ? 'a hex (0x...) or decimal address' : undefined),
    }));
  if (!target) return undefined;
  const args: PageWalkArguments = { address: target.trim(), half: 'both' };
  let body: unknown;
  try {
    body = await session.customRequest(PAGE_WALK_REQUEST, args);
  } catch (e) {
    void vscode.window.showErrorMessage(`kentry: page walk failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
  const record: PageWalkRecord = { address: args.address, results: pageWalkResults(body) };
  store.setPageWalk(record);
  if (show) {
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: formatPageWalk(record) });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
  }
  return record;
}

/**
 * "kentry: Walk Page Tables of the Operand under the Cursor": evaluates the word under the cursor
 * in the stopped session (liveExpression.ts) and walks the address it stands for: a memory
 * operand's location (RSP(%rsp), TSS_sp2), else the value (a register holding a pointer, a symbol).
 */
export async function walkOperandAtCursor(store: MachineStateStore, tracker: MachineStateTracker, show = true): Promise<PageWalkRecord | undefined> {
  const editor = vscode.window.activeTextEditor;
  const session = stoppedKentrySession(store, tracker);
  if (!editor || !session) {
    void vscode.window.showWarningMessage('kentry: stop a kentry session and put the cursor on an operand to walk its address.');
    return undefined;
  }
  const v = await evaluateAt(session, editor.document, editor.selection.active, 'watch');
  const address = v?.memoryReference ?? (v && leadingNumber(v.result) !== undefined ? `0x${BigInt.asUintN(64, leadingNumber(v.result)!).toString(16)}` : undefined);
  if (!v || !address) {
    void vscode.window.showWarningMessage('kentry: the word under the cursor has no value in this session (try a register, a pt_regs slot or a symbol).');
    return undefined;
  }
  return walkPageTables(store, address, show);
}
