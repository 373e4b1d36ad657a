/**
 * A TreeDataProvider that shows Rows built from the MachineStateStore. One instance per view;
 * each view differs only in its Row builder (see rows.ts).
 */
import * as vscode from 'vscode';
import type { MachineStateView } from '../../debug-adapter/protocol';
import type { MachineStateStore, PageWalkRecord } from '../state/machineStateStore';
import type { Row, RowIcon } from './rows';

export type RowBuilder = (state: MachineStateView, walk: PageWalkRecord | undefined) => Row[];

const ICONS: Record<RowIcon, [string, string?]> = {
  value: ['symbol-variable'],
  changed: ['diff-modified', 'charts.orange'],
  filled: ['circle-filled', 'charts.green'],
  empty: ['circle-outline'],
  pass: ['pass', 'testing.iconPassed'],
  fail: ['error', 'testing.iconFailed'],
  pending: ['circle-large-outline'],
  group: ['symbol-namespace'],
  pointer: ['arrow-right', 'charts.yellow'],
  action: ['search'],
};

export function themeIcon(icon: RowIcon): vscode.ThemeIcon {
  const [id, color] = ICONS[icon];
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

export class RowTreeProvider implements vscode.TreeDataProvider<Row>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Row | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: { dispose(): void };

  constructor(
    readonly viewId: string,
    private readonly store: MachineStateStore,
    private readonly build: RowBuilder,
  ) {
    this.subscription = store.onDidChange(() => this.changed.fire(undefined));
  }

  /** The top-level rows as of now ([] when no session is stopped). */
  rows(): Row[] {
    const state = this.store.current;
    return state ? this.build(state, this.store.lastPageWalk) : [];
  }

  getChildren(element?: Row): Row[] {
    return element ? element.children ?? [] : this.rows();
  }

  getTreeItem(row: Row): vscode.TreeItem {
    const state = row.children?.length
      ? row.expanded
        ? vscode.TreeItemCollapsibleState.Expanded
        : vscode.TreeItemCollapsibleState.Collapsed
      : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(row.label, state);
    item.id = `${this.viewId}/${row.id}`;
    item.description = row.description;
    if (row.tooltip) item.tooltip = new vscode.MarkdownString(row.tooltip);
    if (row.icon) item.iconPath = themeIcon(row.icon);
    if (row.reveal) {
      const line = Math.max(0, row.reveal.line - 1);
      item.command = {
        command: 'vscode.open',
        title: 'Show the instruction that wrote this',
        arguments: [vscode.Uri.file(row.reveal.file), { selection: new vscode.Range(line, 0, line, 0) }],
      };
    } else if (row.command) {
      item.command = { command: row.command.id, title: row.command.title };
    }
    // Menus match on these words: `viewItem =~ /editable-memory/` shows the edit action for memory rows.
    item.contextValue = [row.icon === 'changed' ? 'kentry.changed' : 'kentry.value', ...(row.edit ? [`editable-${row.edit.kind}`] : [])].join(' ');
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
