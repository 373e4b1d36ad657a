/**
 * The kentry-asm language client (hover annotations, macros, diagnostics) for dist/languageServer.js,
 * started the first time a kentry-asm document is open.
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { LANGUAGE_ID } from './debug/configurationProvider';

export class KentryLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly serverModule: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    if (vscode.workspace.textDocuments.some((d) => d.languageId === LANGUAGE_ID)) void this.start();
    else {
      this.subscriptions.push(
        vscode.workspace.onDidOpenTextDocument((d) => {
          if (d.languageId === LANGUAGE_ID) void this.start();
        }),
      );
    }
  }

  /** Starts the client once; later calls return the same client. */
  async start(): Promise<LanguageClient | undefined> {
    if (this.client) return this.client;
    if (!fs.existsSync(this.serverModule)) {
      this.log.appendLine(`language server not found at ${this.serverModule}: no hovers or diagnostics (run npm run build)`);
      return undefined;
    }
    const serverOptions: ServerOptions = {
      run: { module: this.serverModule, transport: TransportKind.ipc },
      debug: { module: this.serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: LANGUAGE_ID },
        { scheme: 'untitled', language: LANGUAGE_ID },
      ],
      outputChannel: this.log,
    };
    this.client = new LanguageClient('kentry', 'kentry assembly', serverOptions, clientOptions);
    try {
      await this.client.start();
    } catch (e) {
      this.log.appendLine(`language server failed to start: ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.client;
  }

  async stop(): Promise<void> {
    for (const d of this.subscriptions.splice(0)) d.dispose();
    const c = this.client;
    this.client = undefined;
    if (c) await c.stop().catch(() => undefined);
  }

  dispose(): void {
    void this.stop();
  }
}
