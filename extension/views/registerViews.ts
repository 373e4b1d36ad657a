/** Registers kentry's views in the Run and Debug container; ids match package.json contributes.views.debug. */
import * as vscode from 'vscode';
import type { MachineStateStore } from '../state/machineStateStore';
import { RowBuilder, RowTreeProvider } from './rowTreeProvider';
import { msrRows, pagingRows, perCpuRows, ptRegsRows, sysretRows } from './rows';

export const VIEW_IDS = {
  msrs: 'kentry.msrs',
  perCpu: 'kentry.perCpu',
  paging: 'kentry.paging',
  ptRegs: 'kentry.ptRegs',
  sysret: 'kentry.sysretChecks',
} as const;

export type ViewKey = keyof typeof VIEW_IDS;

const BUILDERS: Record<ViewKey, RowBuilder> = {
  msrs: (s) => msrRows(s),
  perCpu: (s) => perCpuRows(s),
  paging: (s, walk) => pagingRows(s, walk),
  ptRegs: (s) => ptRegsRows(s),
  sysret: (s) => sysretRows(s),
};

export function registerViews(store: MachineStateStore, subscriptions: vscode.Disposable[]): Record<ViewKey, RowTreeProvider> {
  const providers = {} as Record<ViewKey, RowTreeProvider>;
  for (const key of Object.keys(VIEW_IDS) as ViewKey[]) {
    const provider = new RowTreeProvider(VIEW_IDS[key], store, BUILDERS[key]);
    const view = vscode.window.createTreeView(VIEW_IDS[key], { treeDataProvider: provider, showCollapseAll: key !== 'sysret' });
    // The view's title line says which stop it shows, so a stale view is easy to spot.
    const describe = () => {
      view.description = store.current ? `stop ${store.current.stopCount}` : undefined;
    };
    subscriptions.push(provider, view, store.onDidChange(describe));
    providers[key] = provider;
  }
  return providers;
}
