/**
 * The kentry-asm language client (hover annotations, macros, diagnostics, inactive regions) for
 * dist/languageServer.js, started the first time a kentry-asm document is open. It passes the
 * server the annotation notes and the kernel to build documents for (serverOptions.ts), re-sends
 * them when `kentry.*` settings change, and dims the inactive #if regions the server reports.
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { INACTIVE_REGIONS_NOTIFICATION, SETTINGS_SECTION, type InactiveRegionsParams, type KentryServerOptions } from '../../language-server/protocol';
import { LANGUAGE_ID } from '../debug/configurationProvider';
import { GeneratedHeaderProvider } from '../generatedHeaders';
import { InactiveRegionDecorator } from './inactiveRegions';
import { serverOptionsFor, settingsNotification } from './serverOptions';

/** The server options from the current settings. */
export function currentServerOptions(samplesDir: string): KentryServerOptions {
  const c = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return serverOptionsFor(
    { annotationNotes: c.get('annotationNotes'), kernelVersion: c.get('kernel.version'), kernelConfig: c.get('kernel.config'), cpu: c.get('cpu') },
    samplesDir,
    vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
  );
}

export class KentryLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  readonly inactiveRegions = new InactiveRegionDecorator();
  /** Definitions into asm-offsets.h & co. land on kentry-generated: URIs; the server supplies their text. */
  readonly generatedHeaders = new GeneratedHeaderProvider(() => this.start());
  /** How many problems the server last published per document URI: "none yet" and "zero" differ for tests. */
  private readonly published = new Map<string, number>();

  constructor(
    private readonly serverModule: string,
    private readonly samplesDir: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subscriptions.push(
      this.inactiveRegions,
      this.generatedHeaders,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SETTINGS_SECTION)) void this.sendSettings();
      }),
    );
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
  start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<LanguageClient | undefined> {
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
      initializationOptions: currentServerOptions(this.samplesDir),
      outputChannel: this.log,
      middleware: {
        handleDiagnostics: (uri, diagnostics, next) => {
          this.published.set(uri.toString(), diagnostics.length);
          next(uri, diagnostics);
        },
      },
    };
    const client = new LanguageClient('kentry', 'kentry assembly', serverOptions, clientOptions);
    this.client = client;
    this.subscriptions.push(
      client.onNotification(INACTIVE_REGIONS_NOTIFICATION, (p: InactiveRegionsParams) => this.inactiveRegions.update(p)),
    );
    try {
      await client.start();
    } catch (e) {
      this.log.appendLine(`language server failed to start: ${e instanceof Error ? e.message : String(e)}`);
    }
    return client;
  }

  /** Problems the server last published for the document, or undefined before its first analysis. */
  publishedProblems(uri: vscode.Uri): number | undefined {
    return this.published.get(uri.toString());
  }

  /** The `kentry` settings changed: the server rebuilds every open document with the new options. */
  private async sendSettings(): Promise<void> {
    const c = this.client;
    if (!c?.isRunning()) return;
    await c.sendNotification('workspace/didChangeConfiguration', settingsNotification(currentServerOptions(this.samplesDir))).catch((e: unknown) =>
      this.log.appendLine(`settings not sent to the language server: ${e instanceof Error ? e.message : String(e)}`),
    );
    // Notifications and requests keep their order: the next header request sees the new kernel.
    this.generatedHeaders.refreshOpen();
  }

  async stop(): Promise<void> {
    for (const d of this.subscriptions.splice(0)) d.dispose();
    const c = this.client;
    this.client = undefined;
    this.starting = undefined;
    if (c) await c.stop().catch(() => undefined);
  }

  dispose(): void {
    void this.stop();
  }
}
