/**
 * kentry's VS Code extension: the `kentry` debugger (adapter inline or as a process), the
 * machine-state views in Run and Debug, the stack diagram, the page-walk command and the
 * kentry-asm language client. Laid out like vscode-mock-debug's activateMockDebug.ts.
 */
import * as vscode from 'vscode';
import { editValue } from './commands/editValue';
import { walkOperandAtCursor, walkPageTables } from './commands/walkPageTables';
import { KentryAdapterFactory } from './debug/adapterFactory';
import { KentryConfigurationProvider } from './debug/configurationProvider';
import { DEBUG_TYPE } from './debug/launchDefaults';
import { MachineStateTracker } from './debug/machineStateTracker';
import { LiveValueHoverProvider } from './hover/liveValueHover';
import { KentryLanguageClient } from './language/languageClient';
import { MachineStateStore } from './state/machineStateStore';
import { registerViews, ViewKey } from './views/registerViews';
import type { RowTreeProvider } from './views/rowTreeProvider';
import type { Row } from './views/rows';
import { StackDiagramPanel } from './views/stackDiagramPanel';

export const COMMANDS = {
  showStackDiagram: 'kentry.showStackDiagram',
  walkPageTables: 'kentry.walkPageTables',
  refreshViews: 'kentry.refreshViews',
  editValue: 'kentry.editValue',
  walkOperandAtCursor: 'kentry.walkPageTablesAtCursor',
} as const;

/** What activate() returns: for the extension-host tests (and other extensions). */
export interface KentryExtensionApi {
  store: MachineStateStore;
  views: Record<ViewKey, RowTreeProvider>;
  tracker: MachineStateTracker;
  configurationProvider: KentryConfigurationProvider;
  adapterFactory: KentryAdapterFactory;
  languageClient: KentryLanguageClient;
  /** The stack diagram's current html, or undefined when the panel is closed. */
  stackDiagramHtml(): string | undefined;
  /** Milliseconds activate() took (synchronous part; the language server starts in the background). */
  activationMs: number;
}

let languageClient: KentryLanguageClient | undefined;

export function activate(context: vscode.ExtensionContext): KentryExtensionApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('kentry', { log: true });
  const store = new MachineStateStore();
  const subs = context.subscriptions;

  const configurationProvider = new KentryConfigurationProvider();
  const adapterFactory = new KentryAdapterFactory(context.extensionPath);
  subs.push(
    log,
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, configurationProvider),
    // Dynamic: the Run view's dropdown offers the kentry configurations without a launch.json. A separate
    // object, because VS Code calls resolveDebugConfiguration on every provider registered for the type.
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      { provideDebugConfigurations: () => configurationProvider.provideDebugConfigurations() },
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, adapterFactory),
  );
  const tracker = new MachineStateTracker(store, log);
  subs.push(tracker);
  const views = registerViews(store, subs);

  subs.push(
    vscode.commands.registerCommand(COMMANDS.showStackDiagram, () => StackDiagramPanel.show(store)),
    vscode.commands.registerCommand(COMMANDS.walkPageTables, (address?: unknown, show?: unknown) =>
      walkPageTables(store, typeof address === 'string' ? address : undefined, show !== false),
    ),
    vscode.commands.registerCommand(COMMANDS.refreshViews, () => {
      const s = vscode.debug.activeDebugSession;
      return s?.type === DEBUG_TYPE ? tracker.refresh(s) : undefined;
    }),
    vscode.commands.registerCommand(COMMANDS.editValue, (row?: Row, value?: unknown) =>
      editValue(tracker, row, typeof value === 'string' ? value : undefined),
    ),
    vscode.commands.registerCommand(COMMANDS.walkOperandAtCursor, (show?: unknown) => walkOperandAtCursor(store, tracker, show !== false)),
    { dispose: () => StackDiagramPanel.open?.dispose() },
    vscode.languages.registerHoverProvider({ language: 'kentry-asm' }, new LiveValueHoverProvider(store, tracker)),
  );

  languageClient = new KentryLanguageClient(context.asAbsolutePath('dist/languageServer.js'), context.asAbsolutePath('samples'), log);
  subs.push(languageClient);
  return {
    store, views, tracker, configurationProvider, adapterFactory, languageClient,
    stackDiagramHtml: () => StackDiagramPanel.open?.html,
    activationMs: performance.now() - started,
  };
}

export async function deactivate(): Promise<void> {
  await languageClient?.stop();
  languageClient = undefined;
}
