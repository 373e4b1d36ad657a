/**
 * "kentry: Show Stack Diagram": a webview (like rust-analyzer's memory layout view) drawing the
 * user, trampoline and kernel stacks with pt_regs, redrawn from the store on every stop.
 */
import * as crypto from 'crypto';
import * as vscode from 'vscode';
import type { MachineStateStore } from '../state/machineStateStore';
import { renderStackDiagram } from './stackDiagramHtml';

export class StackDiagramPanel implements vscode.Disposable {
  static readonly viewType = 'kentry.stackDiagram';
  private static current: StackDiagramPanel | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  /** Shows (or reveals) the one panel. */
  static show(store: MachineStateStore): StackDiagramPanel {
    if (StackDiagramPanel.current) {
      StackDiagramPanel.current.panel.reveal(undefined, true);
      return StackDiagramPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(StackDiagramPanel.viewType, 'kentry: Stacks', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: false });
    StackDiagramPanel.current = new StackDiagramPanel(panel, store);
    return StackDiagramPanel.current;
  }

  static get open(): StackDiagramPanel | undefined {
    return StackDiagramPanel.current;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly store: MachineStateStore,
  ) {
    this.redraw();
    this.subscriptions.push(
      store.onDidChange(() => this.redraw()),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** The html last drawn (tests read it). */
  get html(): string {
    return this.panel.webview.html;
  }

  private redraw(): void {
    const nonce = crypto.randomBytes(16).toString('base64');
    this.panel.webview.html = renderStackDiagram(this.store.current, { nonce, cspSource: this.panel.webview.cspSource });
  }

  private disposed = false;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (StackDiagramPanel.current === this) StackDiagramPanel.current = undefined;
    for (const d of this.subscriptions.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
