/**
 * The one place the views read machine state from: the last MachineStateView the debug adapter
 * answered (plus the last page walk). Every tree view and the stack diagram redraw from here, so
 * they stay consistent and can be tested without a debug session. No `vscode` import on purpose.
 */
import type { MachineStateView, PageWalkResult } from '../../debug-adapter/protocol';

export interface Disposable {
  dispose(): void;
}

export interface PageWalkRecord {
  address: string;
  results: PageWalkResult[];
}

export class MachineStateStore {
  private state: MachineStateView | undefined;
  private walk: PageWalkRecord | undefined;
  private readonly listeners = new Set<() => void>();

  /** The machine state as of the last stop, or undefined when no kentry session is stopped. */
  get current(): MachineStateView | undefined {
    return this.state;
  }

  get lastPageWalk(): PageWalkRecord | undefined {
    return this.walk;
  }

  update(state: MachineStateView): void {
    // Answers can arrive out of order (a request per stop); never go back to an older stop.
    if (this.state && state.stopCount < this.state.stopCount) return;
    this.state = state;
    this.fire();
  }

  setPageWalk(walk: PageWalkRecord): void {
    this.walk = walk;
    this.fire();
  }

  /** The session ended: nothing to show any more. */
  clear(): void {
    if (!this.state && !this.walk) return;
    this.state = undefined;
    this.walk = undefined;
    this.fire();
  }

  onDidChange(listener: () => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private fire(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch {
        // One broken view must not keep the others from redrawing.
      }
    }
  }
}
