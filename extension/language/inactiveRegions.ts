/**
 * Greys out the lines an #if/#ifdef leaves out for the configured kernel (the server's
 * `kentry/inactiveRegions` notification), e.g. the CONFIG_X86_5LEVEL branch of entry_SYSCALL_64.
 * Only opacity changes, so the grammar's colours stay readable underneath.
 */
import * as vscode from 'vscode';
import type { InactiveRegionsParams } from '../../language-server/protocol';

export type LineRange = InactiveRegionsParams['regions'][number];

export class InactiveRegionDecorator implements vscode.Disposable {
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    opacity: '0.45',
    isWholeLine: true,
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  /** The server's latest regions per document URI (string form). */
  private readonly regions = new Map<string, InactiveRegionsParams>();
  /** What was last drawn in each document: tests read this ("is the branch decorated?"). */
  private readonly drawn = new Map<string, LineRange[]>();
  private readonly subscriptions: vscode.Disposable[] = [this.decoration];

  constructor() {
    this.subscriptions.push(
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.draw(e))),
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.regions.delete(d.uri.toString());
        this.drawn.delete(d.uri.toString());
      }),
    );
  }

  /** The notification handler. */
  update(params: InactiveRegionsParams): void {
    const key = vscode.Uri.parse(params.uri).toString();
    this.regions.set(key, params);
    for (const e of vscode.window.visibleTextEditors) if (e.document.uri.toString() === key) this.draw(e);
  }

  /** The ranges drawn in the document now ([] when none). */
  decorated(uri: vscode.Uri): LineRange[] {
    return this.drawn.get(uri.toString()) ?? [];
  }

  private draw(editor: vscode.TextEditor): void {
    const key = editor.document.uri.toString();
    const p = this.regions.get(key);
    if (!p) return;
    // Regions of an older version would dim the wrong lines after an edit; the server sends new ones shortly.
    if (p.version !== editor.document.version) return;
    const last = editor.document.lineCount - 1;
    const ranges = p.regions
      .filter((r) => r.startLine <= last)
      .map((r) => new vscode.Range(r.startLine, 0, Math.min(r.endLine, last), 0));
    editor.setDecorations(this.decoration, ranges);
    this.drawn.set(key, p.regions);
  }

  dispose(): void {
    for (const d of this.subscriptions.splice(0)) d.dispose();
  }
}
