/**
 * Serves `kentry-generated:` URIs (asm-offsets.h, autoconf.h, cpufeatures.h ... that kentry
 * generates in memory) as read-only editors, so go to definition on TSS_sp2 or X86_FEATURE_LA57
 * opens the line that defines it. The text comes from the language server (GENERATED_HEADER_REQUEST)
 * for the current kentry.kernel settings: the same generated text it assembles with, and the same
 * the debugger assembles with for that kernel. A TextDocumentContentProvider's documents are read-only.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { GENERATED_HEADER_REQUEST, GENERATED_SCHEME, type GeneratedHeaderParams, type GeneratedHeaderResult } from '../language-server/protocol';

export class GeneratedHeaderProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [this.changed];

  /** `client` starts the language server if need be (a definition may be opened before any .S file). */
  constructor(private readonly client: () => Promise<LanguageClient | undefined>) {
    this.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(GENERATED_SCHEME, this));
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const client = await this.client();
    if (!client?.isRunning()) return `/* ${uri.toString()}: the kentry-asm language server is not running, so kentry cannot generate this header. */\n`;
    try {
      const params: GeneratedHeaderParams = { uri: uri.toString() };
      const r = await client.sendRequest<GeneratedHeaderResult>(GENERATED_HEADER_REQUEST, params);
      return r?.text ?? `/* ${uri.toString()}: kentry generates no such header for the configured kernel. */\n`;
    } catch (e) {
      return `/* ${uri.toString()}: ${e instanceof Error ? e.message : String(e)} */\n`;
    }
  }

  /** Another kernel version or config changes the numbers: call once the server has the new settings. */
  refreshOpen(): void {
    for (const d of vscode.workspace.textDocuments) if (d.uri.scheme === GENERATED_SCHEME) this.changed.fire(d.uri);
  }

  dispose(): void {
    for (const d of this.subscriptions.splice(0)) d.dispose();
  }
}
