/**
 * F5 without a launch.json: debug the active .S file (as vscode-mock-debug's provider does for
 * its markdown files). launch.json configurations pass through unchanged.
 */
import * as vscode from 'vscode';
import { configurationForFile, DEBUG_TYPE, INITIAL_CONFIGURATIONS, withEditorCpu } from './launchDefaults';

export const LANGUAGE_ID = 'kentry-asm';

export class KentryConfigurationProvider implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return INITIAL_CONFIGURATIONS.map((c) => ({ ...c }));
  }

  resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.DebugConfiguration | undefined {
    // Restricted Mode: the QEMU engine would start the programs launch.json names (workspace code).
    if (config.engine === 'qemu' && !vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage('kentry: the QEMU engine starts programs named in launch.json; trust this workspace to use it. The built-in emulator works in Restricted Mode.');
      return undefined;
    }
    const editorCpu = vscode.workspace.getConfiguration('kentry').get<string>('cpu');
    if (config.type || config.request || config.name) {
      return withEditorCpu({ ...config, type: config.type || DEBUG_TYPE, request: config.request || 'launch', name: config.name || 'kentry' }, editorCpu);
    }
    const editor = vscode.window.activeTextEditor;
    if (editor && (editor.document.languageId === LANGUAGE_ID || /\.[sS]$/.test(editor.document.fileName))) {
      return withEditorCpu(configurationForFile(editor.document.uri.fsPath, editor.document.getText()), editorCpu);
    }
    // No .S in front: the bundled sample program through the bundled entry code.
    return withEditorCpu({ type: DEBUG_TYPE, request: 'launch', name: 'kentry: bundled sample' }, editorCpu);
  }
}
