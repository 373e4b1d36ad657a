/**
 * A client for the gdb remote serial protocol (RSP), as spoken by QEMU's gdb stub (`-s` / `-gdb`).
 * All-stop mode only: one request at a time; a resume (c, s, vCont) is answered by a stop reply
 * when the target stops, and an interrupt (a raw 0x03 byte) makes a running target stop.
 *
 * Packet format: `$payload#xx` with xx the modulo-256 sum of the payload bytes in hex; the peer
 * answers `+` (or `-` to ask for a resend) until QStartNoAckMode turns acks off. Replies may use
 * run-length encoding (`X*n` repeats X n-29 more times) and binary escapes (`}` then byte^0x20).
 * Reference: the "Remote Protocol" appendix of the GDB manual.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';

export interface GdbRegister {
  name: string;
  /** Register number for p/P (position in the target description unless it says regnum). */
  regnum: number;
  bitsize: number;
  /** Byte offset of the register in the `g` packet's reply. */
  offset: number;
  group?: string;
  type?: string;
}

export type StopReply =
  | { kind: 'signal'; signal: number; thread?: string; info: Record<string, string>; raw: string }
  | { kind: 'exited'; code: number; raw: string }
  | { kind: 'terminated'; signal: number; raw: string };

export class GdbProtocolError extends Error {}

/** Bytes a payload's checksum covers, mod 256, as two hex digits. */
export function checksum(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** `$payload#xx`, with the characters the protocol reserves escaped. */
export function framePacket(payload: string): string {
  const escaped = payload.replace(/[#$}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
  return `$${escaped}#${checksum(escaped)}`;
}

/** Undo run-length encoding and binary escapes of a received payload (after the checksum check). */
export function decodePayload(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '}') {
      out += String.fromCharCode(raw.charCodeAt(++i) ^ 0x20);
    } else if (c === '*' && out.length > 0) {
      const n = raw.charCodeAt(++i) - 29;
      out += out[out.length - 1].repeat(n);
    } else {
      out += c;
    }
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** A little-endian register value from its hex bytes (as g/p send them on x86). */
export function hexToLE(hex: string): bigint {
  let v = 0n;
  for (let i = hex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
  return v;
}

export function leToHex(value: bigint, bytes: number): string {
  let out = '';
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++) { out += (v & 0xffn).toString(16).padStart(2, '0'); v >>= 8n; }
  return out;
}

export function parseStopReply(p: string): StopReply {
  if (p[0] === 'W') return { kind: 'exited', code: parseInt(p.slice(1, 3), 16), raw: p };
  if (p[0] === 'X') return { kind: 'terminated', signal: parseInt(p.slice(1, 3), 16), raw: p };
  if (p[0] === 'S' || p[0] === 'T') {
    const info: Record<string, string> = {};
    if (p[0] === 'T') {
      for (const part of p.slice(3).split(';')) {
        const colon = part.indexOf(':');
        if (colon > 0) info[part.slice(0, colon)] = part.slice(colon + 1);
      }
    }
    return { kind: 'signal', signal: parseInt(p.slice(1, 3), 16), thread: info.thread, info, raw: p };
  }
  throw new GdbProtocolError(`not a stop reply: ${p}`);
}

/**
 * Registers from a target description, following <xi:include> through `fetch`. Numbers run
 * in document order across features unless a <reg> names its regnum (GDB's rule).
 */
export async function parseTargetDescription(xml: string, fetch: (annex: string) => Promise<string>): Promise<{ architecture?: string; registers: GdbRegister[] }> {
  const registers: GdbRegister[] = [];
  let architecture: string | undefined;
  let next = 0;
  let offset = 0;
  const visit = async (text: string): Promise<void> => {
    // Commented-out registers (QEMU's i386-64bit.xml has ss_base/ds_base/es_base so) do not count.
    const doc = text.replace(/<!--[\s\S]*?-->/g, '');
    const arch = /<architecture>([^<]*)<\/architecture>/.exec(doc);
    if (arch) architecture = arch[1].trim();
    // Walk includes and regs in document order.
    const re = /<xi:include\s+href="([^"]+)"\s*\/>|<reg\s([^>]*?)\/?>/g;
    for (let m = re.exec(doc); m; m = re.exec(doc)) {
      if (m[1] !== undefined) { await visit(await fetch(m[1])); continue; }
      const attrs: Record<string, string> = {};
      for (const a of m[2].matchAll(/(\w+)="([^"]*)"/g)) attrs[a[1]] = a[2];
      const regnum = attrs.regnum !== undefined ? Number(attrs.regnum) : next;
      next = regnum + 1;
      const bitsize = Number(attrs.bitsize);
      registers.push({ name: attrs.name, regnum, bitsize, offset, group: attrs.group, type: attrs.type });
      offset += bitsize / 8;
    }
  };
  await visit(xml);
  return { architecture, registers };
}

interface Waiter {
  resolve: (payload: string) => void;
  reject: (e: Error) => void;
}

export interface GdbRemoteOptions {
  /** Milliseconds to wait for a reply to a non-resume request. */
  timeoutMs?: number;
  /** Log each packet (for debugging kentry itself). */
  trace?: (direction: '->' | '<-', packet: string) => void;
}

/**
 * One connection to a gdb stub. Requests are serialized; resume() resolves with the stop reply.
 * Events: 'output' (text from `O` packets), 'close'.
 */
export class GdbRemote extends EventEmitter {
  private buffer = '';
  private ackMode = true;
  private lastSent = '';
  private readonly waiters: Waiter[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  running = false;
  features: Record<string, string> = {};
  registers: GdbRegister[] = [];
  architecture: string | undefined;

  private constructor(private readonly socket: net.Socket, private readonly options: GdbRemoteOptions) {
    super();
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => this.onClose(new GdbProtocolError('connection to the gdb stub closed')));
    socket.on('error', (e) => this.onClose(e));
  }

  /** Connect, negotiate features and no-ack mode, and read the target description. */
  static async connect(host: string, port: number, options: GdbRemoteOptions = {}): Promise<GdbRemote> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port }, () => { s.off('error', reject); resolve(s); });
      s.once('error', reject);
    });
    const remote = new GdbRemote(socket, options);
    await remote.handshake();
    return remote;
  }

  private async handshake(): Promise<void> {
    const supported = await this.request('qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;xmlRegisters=i386;vContSupported+');
    for (const part of supported.split(';')) {
      if (part.endsWith('+') || part.endsWith('-')) this.features[part.slice(0, -1)] = part.slice(-1);
      else if (part.includes('=')) this.features[part.slice(0, part.indexOf('='))] = part.slice(part.indexOf('=') + 1);
    }
    // Ask even when qSupported does not list it (QEMU 7.2 answers it without advertising it).
    if (this.features.QStartNoAckMode !== '-') {
      const ok = await this.request('QStartNoAckMode');
      if (ok === 'OK') this.ackMode = false;
    }
    if (this.features['qXfer:features:read'] === '+') {
      const xml = await this.readXfer('features', 'target.xml');
      const td = await parseTargetDescription(xml, (annex) => this.readXfer('features', annex));
      this.registers = td.registers;
      this.architecture = td.architecture;
    }
  }

  get noAck(): boolean {
    return !this.ackMode;
  }

  /** Read a whole qXfer object in chunks (m = more follows, l = last). */
  async readXfer(object: string, annex: string): Promise<string> {
    let out = '';
    for (;;) {
      const r = await this.request(`qXfer:${object}:read:${annex}:${out.length.toString(16)},ffb`);
      if (r.startsWith('E')) throw new GdbProtocolError(`qXfer:${object}:read:${annex} failed: ${r}`);
      out += r.slice(1);
      if (r[0] === 'l') return out;
      if (r[0] !== 'm') throw new GdbProtocolError(`unexpected qXfer reply: ${r.slice(0, 40)}`);
    }
  }

  register(name: string): GdbRegister | undefined {
    return this.registers.find((r) => r.name === name);
  }

  // ---------------------------------------------------------------- transport

  private send(payload: string): void {
    this.lastSent = framePacket(payload);
    this.options.trace?.('->', payload);
    this.socket.write(this.lastSent, 'latin1');
  }

  private onData(data: string): void {
    this.buffer += data;
    for (;;) {
      const b = this.buffer;
      if (b.length === 0) return;
      const c = b[0];
      if (c === '+') { this.buffer = b.slice(1); continue; }
      if (c === '-') { this.buffer = b.slice(1); if (this.lastSent) this.socket.write(this.lastSent, 'latin1'); continue; }
      if (c !== '$' && c !== '%') { this.buffer = b.slice(1); continue; } // line noise
      const hash = b.indexOf('#');
      if (hash < 0 || b.length < hash + 3) return; // incomplete
      const raw = b.slice(1, hash);
      const sum = b.slice(hash + 1, hash + 3);
      this.buffer = b.slice(hash + 3);
      if (c === '%') continue; // notification (non-stop mode): not used
      if (this.ackMode) {
        if (checksum(raw) !== sum.toLowerCase()) { this.socket.write('-'); continue; }
        this.socket.write('+');
      }
      const payload = decodePayload(raw);
      this.options.trace?.('<-', payload);
      this.onPacket(payload);
    }
  }

  private onPacket(payload: string): void {
    // `O` + hex is console output while the target runs (and qRcmd's answer); "OK" is not output.
    if (payload.length > 1 && payload[0] === 'O' && payload !== 'OK' && /^[0-9a-fA-F]+$/.test(payload.slice(1))) {
      this.emit('output', Buffer.from(payload.slice(1), 'hex').toString('latin1'));
      return;
    }
    const w = this.waiters.shift();
    if (w) w.resolve(payload);
    else this.emit('unsolicited', payload);
  }

  private onClose(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(e);
    this.emit('close', e);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send a packet and wait for its reply (serialized after every earlier request). */
  request(payload: string, timeoutMs = this.options.timeoutMs ?? 10000): Promise<string> {
    return this.enqueue(() => this.exchange(payload, timeoutMs));
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private exchange(payload: string, timeoutMs: number | undefined): Promise<string> {
    if (this.closed) return Promise.reject(new GdbProtocolError('connection to the gdb stub is closed'));
    return new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        resolve: (p) => { if (timer) clearTimeout(timer); resolve(p); },
        reject: (e) => { if (timer) clearTimeout(timer); reject(e); },
      };
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new GdbProtocolError(`no reply from the gdb stub to "${payload.slice(0, 40)}" within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
      this.send(payload);
    });
  }

  // ---------------------------------------------------------------- commands

  private async expectOk(payload: string): Promise<void> {
    const r = await this.request(payload);
    if (r !== 'OK') throw new GdbProtocolError(`${payload.split(':')[0].slice(0, 20)}: ${r === '' ? 'not supported by the stub' : r}`);
  }

  /** `?`: why the target is stopped. */
  async haltReason(): Promise<StopReply> {
    return parseStopReply(await this.request('?'));
  }

  /** `g`: all registers, by name, per the target description. */
  async readRegisters(): Promise<Map<string, bigint>> {
    const hex = await this.request('g');
    if (hex.startsWith('E') && hex.length === 3) throw new GdbProtocolError(`g: ${hex}`);
    const out = new Map<string, bigint>();
    for (const r of this.registers) {
      const start = r.offset * 2;
      const end = start + r.bitsize / 4;
      if (end > hex.length) break; // the stub sent fewer (later ones via p)
      const part = hex.slice(start, end);
      if (!part.includes('x')) out.set(r.name, hexToLE(part)); // xx = unavailable
    }
    return out;
  }

  /** `p`: one register by name or number. */
  async readRegister(reg: string | number): Promise<bigint> {
    const r = this.resolveRegister(reg);
    const hex = await this.request(`p${r.regnum.toString(16)}`);
    if (hex === '' || (hex[0] === 'E' && hex.length === 3)) throw new GdbProtocolError(`p ${r.name}: ${hex || 'not supported'}`);
    return hexToLE(hex);
  }

  /** `P`: write one register. */
  async writeRegister(reg: string | number, value: bigint): Promise<void> {
    const r = this.resolveRegister(reg);
    await this.expectOk(`P${r.regnum.toString(16)}=${leToHex(value, r.bitsize / 8)}`);
  }

  private resolveRegister(reg: string | number): GdbRegister {
    const r = typeof reg === 'number' ? this.registers.find((x) => x.regnum === reg) : this.register(reg);
    if (!r) throw new GdbProtocolError(`the target description has no register ${reg}`);
    return r;
  }

  /** `m`: read virtual memory (as the current CPU's page tables map it); chunks of at most 2 KiB. */
  async readMemory(address: bigint, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const n = Math.min(2048, length - done);
      const r = await this.request(`m${(address + BigInt(done)).toString(16)},${n.toString(16)}`);
      if (r.length === 0 || (r[0] === 'E' && r.length === 3)) {
        throw new GdbProtocolError(`cannot read memory at 0x${(address + BigInt(done)).toString(16)} (${r || 'empty reply'})`);
      }
      out.set(fromHex(r), done);
      done += r.length / 2;
      if (r.length === 0) break;
    }
    return out;
  }

  /** `M`: write memory. */
  async writeMemory(address: bigint, data: Uint8Array): Promise<void> {
    await this.expectOk(`M${address.toString(16)},${data.length.toString(16)}:${toHex(data)}`);
  }

  /** `Z0`/`Z1`: insert a software (0) or hardware (1) breakpoint. */
  async insertBreakpoint(address: bigint, hardware = false): Promise<void> {
    await this.expectOk(`Z${hardware ? 1 : 0},${address.toString(16)},1`);
  }

  async removeBreakpoint(address: bigint, hardware = false): Promise<void> {
    await this.expectOk(`z${hardware ? 1 : 0},${address.toString(16)},1`);
  }

  /**
   * Resume with `packet` (c, s, vCont;...) and wait for the stop reply, however long the target
   * runs (an interrupt() makes it stop).
   */
  resume(packet: string): Promise<StopReply> {
    return this.enqueue(async () => {
      this.running = true;
      try {
        return parseStopReply(await this.exchange(packet, undefined));
      } finally {
        this.running = false;
      }
    });
  }

  continue(): Promise<StopReply> {
    return this.resume('c');
  }

  /** One instruction (vCont;s when the stub has it, else s). */
  step(): Promise<StopReply> {
    return this.resume(this.features.vContSupported === '+' || this.features['vContSupported'] ? 'vCont;s' : 's');
  }

  /**
   * One instruction that really executed. QEMU 7.2's TCG now and then reports a single step
   * as done without having executed anything (every register unchanged); step again then.
   * An instruction that changes nothing (jmp to itself) is stepped at most `retries`+1 times.
   */
  async stepExecuted(retries = 3): Promise<{ reply: StopReply; spurious: number }> {
    const before = await this.request('g');
    let spurious = 0;
    for (;;) {
      const reply = await this.step();
      if (reply.kind !== 'signal' || spurious >= retries) return { reply, spurious };
      if ((await this.request('g')) !== before) return { reply, spurious };
      spurious++;
    }
  }

  /** Ask a running target to stop (the 0x03 byte, outside any packet); the pending resume() resolves. */
  interrupt(): void {
    if (!this.closed) this.socket.write('\x03', 'latin1');
  }

  /** `qRcmd`: a monitor command (QEMU: the HMP monitor); its output text. */
  async monitor(command: string): Promise<string> {
    let text = '';
    const collect = (s: string): void => { text += s; };
    this.on('output', collect);
    try {
      const r = await this.request(`qRcmd,${Buffer.from(command, 'latin1').toString('hex')}`);
      if (r === '') throw new GdbProtocolError('the stub has no monitor (qRcmd)');
      if (r !== 'OK') {
        // Some stubs answer with the hex text itself instead of O packets.
        if (/^[0-9a-fA-F]+$/.test(r)) text += Buffer.from(r, 'hex').toString('latin1');
        else throw new GdbProtocolError(`monitor ${command}: ${r}`);
      }
      return text;
    } finally {
      this.off('output', collect);
    }
  }

  /**
   * Let the target run and go away. QEMU 7.2 keeps the guest paused after `D`, so this sends
   * `c` (not waiting for a stop that will not be read) and closes the connection.
   */
  async resumeAndClose(): Promise<void> {
    if (!this.closed) {
      this.send('c');
      await new Promise((r) => setTimeout(r, 50));
    }
    this.close();
  }

  /** `D`: detach (QEMU leaves the guest paused; see resumeAndClose). */
  async detach(): Promise<void> {
    try { await this.request('D', 2000); } catch { /* already gone */ }
    this.close();
  }

  /** `k`: kill the target (QEMU exits). No reply is expected. */
  kill(): void {
    if (!this.closed) this.send('k');
    setTimeout(() => this.close(), 50).unref();
  }

  close(): void {
    this.socket.destroy();
    this.onClose(new GdbProtocolError('connection closed by kentry'));
  }
}
