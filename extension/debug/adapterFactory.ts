/**
 * Where the kentry debug adapter runs, per the setting `kentry.debugAdapter.mode`:
 *  - "inline" (default): inside the extension host (vscode-mock-debug's inline mode), which
 *    starts fastest and lets the adapter read unsaved editor buffers;
 *  - "server": dist/debugAdapter.js as a separate process over stdio, like a user's own adapter.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { KentryDebugSession } from '../../debug-adapter/session';
// Engines beyond the built-in emulator register themselves when loaded (engine: "qemu").
import '../../debug-adapter/engines/qemu';
import type { FileAccess } from '../../emulator/host';

export type AdapterMode = 'inline' | 'server';

export function adapterMode(): AdapterMode {
  return vscode.workspace.getConfiguration('kentry').get<AdapterMode>('debugAdapter.mode', 'inline') === 'server' ? 'server' : 'inline';
}

/** Reads files as the editor has them: an unsaved buffer wins over the file on disk. */
export function editorAwareFiles(): FileAccess {
  const same = (a: string, b: string) => path.resolve(a) === path.resolve(b);
  return {
    readFile(p: string): string | undefined {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && same(d.uri.fsPath, p));
      if (doc?.isDirty) return doc.getText();
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}

export class KentryAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  /** How the last session's adapter was started (tests check the setting took effect). */
  lastMode: AdapterMode | undefined;

  constructor(private readonly extensionPath: string) {}

  createDebugAdapterDescriptor(): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    this.lastMode = adapterMode();
    if (this.lastMode === 'server') {
      // process.execPath is Electron in desktop VS Code; ELECTRON_RUN_AS_NODE makes it plain Node.
      return new vscode.DebugAdapterExecutable(process.execPath, [path.join(this.extensionPath, 'dist', 'debugAdapter.js')], {
        env: { ELECTRON_RUN_AS_NODE: '1' },
      });
    }
    const session = new KentryDebugSession({ fs: editorAwareFiles(), samplesDir: path.join(this.extensionPath, 'samples') });
    return new vscode.DebugAdapterInlineImplementation(session);
  }
}
