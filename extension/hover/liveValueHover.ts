/**
 * While a kentry session is stopped, hovering a register, a pt_regs slot such as RSP(%rsp), a TSS
 * asm-offset or a symbol in a kentry-asm file adds its live value under the language server's
 * hover (VS Code shows every provider's hover together). The value comes from the adapter's
 * evaluate request with context 'hover', the one evaluator the Debug Console and watches use.
 */
import * as vscode from 'vscode';
import { scanSource } from '../../language-server/source-lines';
import { DEBUG_TYPE } from '../debug/launchDefaults';
import type { MachineStateTracker } from '../debug/machineStateTracker';
import type { MachineStateStore } from '../state/machineStateStore';
import { liveExpressionAt, type LiveExpression } from './liveExpression';

export interface EvaluatedExpression extends LiveExpression {
  result: string;
  memoryReference?: string;
}

/** The active kentry session when it is stopped (its state is in the views, and it has not been resumed). */
export function stoppedKentrySession(store: MachineStateStore, tracker: MachineStateTracker): vscode.DebugSession | undefined {
  const s = vscode.debug.activeDebugSession;
  return s?.type === DEBUG_TYPE && store.current && tracker.isStopped(s) ? s : undefined;
}

function frameId(): number | undefined {
  const item = vscode.debug.activeStackItem;
  return item instanceof vscode.DebugStackFrame ? item.frameId : undefined;
}

/** The live expression under `position`, evaluated in `session`; undefined when there is none or it has no value. */
export async function evaluateAt(
  session: vscode.DebugSession, document: vscode.TextDocument, position: vscode.Position, context: 'hover' | 'watch',
): Promise<EvaluatedExpression | undefined> {
  const line = scanSource(document.getText()).at(position.line);
  if (!line || line.kind === 'directive') return undefined;
  const e = liveExpressionAt(line.code, position.character);
  if (!e) return undefined;
  try {
    const r = (await session.customRequest('evaluate', { expression: e.expression, context, frameId: frameId() })) as { result: string; memoryReference?: string };
    return { ...e, result: r.result, memoryReference: r.memoryReference };
  } catch {
    // Not a name the evaluator knows (a macro, a mnemonic's operand it cannot read): no live value.
    return undefined;
  }
}

/** Inline code; the evaluator's text never holds backticks, but a stray one must not break the hover. */
const code = (s: string): string => '`' + s.replace(/`/g, "'") + '`';

export class LiveValueHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly store: MachineStateStore,
    private readonly tracker: MachineStateTracker,
  ) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const session = stoppedKentrySession(this.store, this.tracker);
    if (!session) return undefined;
    const v = await evaluateAt(session, document, position, 'hover');
    if (!v) return undefined;
    const md = new vscode.MarkdownString(`**Live value** (stop ${this.store.current?.stopCount ?? '?'}): ${code(v.label)} = ${code(v.result)}`);
    if (v.expression !== v.label) md.appendMarkdown(`\n\nevaluated as ${code(v.expression)}`);
    return new vscode.Hover(md, new vscode.Range(position.line, v.start, position.line, v.end));
  }
}
