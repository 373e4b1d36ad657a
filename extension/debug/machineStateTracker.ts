/**
 * Keeps the MachineStateStore in step with kentry debug sessions: on every `stopped` event it asks
 * the adapter for the decoded machine state (MACHINE_STATE_REQUEST); the adapter's own
 * MACHINE_STATE_EVENT is taken too. When the session ends the views are cleared.
 */
import * as vscode from 'vscode';
import { MACHINE_STATE_EVENT, MACHINE_STATE_REQUEST, MachineStateView } from '../../debug-adapter/protocol';
import type { MachineStateStore } from '../state/machineStateStore';
import { CONTEXT_KEYS } from './contextKeys';
import { DEBUG_TYPE } from './launchDefaults';

interface DapMessage {
  type?: string;
  event?: string;
  command?: string;
  success?: boolean;
  body?: unknown;
}

/** The adapter capabilities the views' edit actions depend on. */
export interface EditCapabilities {
  supportsSetVariable: boolean;
  supportsWriteMemoryRequest: boolean;
}


function looksLikeState(body: unknown): body is MachineStateView {
  return typeof body === 'object' && body !== null && Array.isArray((body as MachineStateView).msrs);
}

/** DAP requests after which the debuggee runs until the next `stopped` event. */
const RESUMING = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto', 'restartFrame']);

export class MachineStateTracker implements vscode.DebugAdapterTrackerFactory, vscode.Disposable {
  /** The session whose state the views show. */
  private shownSessionId: string | undefined;
  /** Sessions that ended: a late answer from one of them must not refill the views. */
  private readonly endedSessionIds = new Set<string>();
  /** Sessions running between a resume request and the next stop: no live values to show then. */
  private readonly running = new Set<string>();
  /** What each session's adapter said it can do (its initialize response). */
  private readonly capabilities = new Map<string, EditCapabilities>();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Resolves after each store update; tests and commands can await a fresh state. */
  private readonly updated = new vscode.EventEmitter<MachineStateView>();
  readonly onDidUpdate = this.updated.event;

  constructor(
    private readonly store: MachineStateStore,
    private readonly log: vscode.OutputChannel,
  ) {
    this.subscriptions.push(
      vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, this),
      vscode.debug.onDidTerminateDebugSession((s) => this.ended(s)),
      vscode.debug.onDidChangeActiveDebugSession(() => this.publishCapabilities()),
      this.updated,
    );
  }

  createDebugAdapterTracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    return {
      onWillReceiveMessage: (m: DapMessage) => {
        if (m.type === 'request' && m.command && RESUMING.has(m.command)) this.running.add(session.id);
      },
      onDidSendMessage: (m: DapMessage) => {
        if (m.type === 'response' && m.command === 'initialize' && m.success) {
          const c = (m.body ?? {}) as Partial<EditCapabilities>;
          this.capabilities.set(session.id, { supportsSetVariable: !!c.supportsSetVariable, supportsWriteMemoryRequest: !!c.supportsWriteMemoryRequest });
          this.publishCapabilities();
        }
        if (m.type !== 'event') return;
        if (m.event === 'stopped') {
          this.running.delete(session.id);
          void this.refresh(session);
        } else if (m.event === 'continued') this.running.add(session.id);
        else if (m.event === MACHINE_STATE_EVENT && looksLikeState(m.body)) this.show(session, m.body);
        else if (m.event === 'terminated' || m.event === 'exited') this.ended(session);
      },
      onExit: () => this.ended(session),
    };
  }

  /** True when the session has stopped and not been resumed since (hovers evaluate only then). */
  isStopped(session: vscode.DebugSession): boolean {
    return this.shownSessionId === session.id && !this.running.has(session.id);
  }

  /** What the session's adapter can edit (nothing for an unknown session). */
  editCapabilities(session: vscode.DebugSession | undefined): EditCapabilities {
    return (session && this.capabilities.get(session.id)) ?? { supportsSetVariable: false, supportsWriteMemoryRequest: false };
  }

  private publishCapabilities(): void {
    const s = vscode.debug.activeDebugSession;
    const c = this.editCapabilities(s?.type === DEBUG_TYPE ? s : undefined);
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.setVariable, c.supportsSetVariable);
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.writeMemory, c.supportsWriteMemoryRequest);
  }

  /** Ask the adapter for the state now (also used after a page walk or by tests). */
  async refresh(session: vscode.DebugSession): Promise<MachineStateView | undefined> {
    try {
      const body: unknown = await session.customRequest(MACHINE_STATE_REQUEST);
      if (looksLikeState(body)) {
        this.show(session, body);
        return body;
      }
      this.log.appendLine(`${MACHINE_STATE_REQUEST}: unexpected answer ${JSON.stringify(body)?.slice(0, 200)}`);
    } catch (e) {
      // The session may have ended between the stop and the answer; nothing to show then.
      this.log.appendLine(`${MACHINE_STATE_REQUEST} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    return undefined;
  }

  private show(session: vscode.DebugSession, state: MachineStateView): void {
    if (this.endedSessionIds.has(session.id)) return;
    if (this.shownSessionId !== session.id) {
      // Another session's numbers would be compared against this one's: start afresh.
      this.store.clear();
      this.shownSessionId = session.id;
    }
    this.store.update(state);
    this.updated.fire(state);
  }

  private ended(session: vscode.DebugSession): void {
    if (session.type !== DEBUG_TYPE) return;
    this.endedSessionIds.add(session.id);
    this.capabilities.delete(session.id);
    this.running.delete(session.id);
    this.publishCapabilities();
    if (session.id !== this.shownSessionId) return;
    this.shownSessionId = undefined;
    this.store.clear();
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
