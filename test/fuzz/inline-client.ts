/** A DAP client for an in-process KentryDebugSession (the inline adapter VS Code uses): no stdio, no process. */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { KentryDebugSession } from '../../debug-adapter/session';

/** The inline client: messages both ways through the session's in-process API, as VS Code's inline adapter does. */
export class InlineClient {
  private seq = 1;
  private readonly waiting = new Map<number, (r: DebugProtocol.Response) => void>();
  readonly events: DebugProtocol.Event[] = [];
  private readonly eventWaiters: { names: string[]; resolve: () => void }[] = [];

  constructor(readonly session: KentryDebugSession) {
    session.onDidSendMessage((m) => {
      const msg = m as DebugProtocol.ProtocolMessage;
      if (msg.type === 'response') {
        const r = msg as DebugProtocol.Response;
        this.waiting.get(r.request_seq)?.(r);
        this.waiting.delete(r.request_seq);
      } else if (msg.type === 'event') {
        const e = msg as DebugProtocol.Event;
        this.events.push(e);
        for (const w of this.eventWaiters.filter((x) => x.names.includes(e.event))) w.resolve();
      }
    });
  }

  /** Send a request; the response, or undefined if none came within `ms`. */
  send(command: string, args: unknown, ms: number): Promise<DebugProtocol.Response | undefined> {
    const seq = this.seq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(seq); resolve(undefined); }, ms).unref();
      this.waiting.set(seq, (r) => { clearTimeout(timer); resolve(r); });
      this.session.handleMessage({ seq, type: 'request', command, arguments: args } as DebugProtocol.Request);
    });
  }

  waitFor(names: string[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms).unref();
      this.eventWaiters.push({ names, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

