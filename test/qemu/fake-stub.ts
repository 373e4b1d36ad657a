/**
 * A tiny gdb stub on 127.0.0.1 for the RSP client's unit tests: 4 registers (rax, rip, fs_base,
 * cr3) across two target-description files, 64 KiB of memory at 0x1000, breakpoints, single
 * step (rip += 1), continue (runs to the next breakpoint or waits for 0x03), a monitor. It acks
 * until QStartNoAckMode, answers some packets with run-length encoding, and records every
 * packet it received so tests can check what the client sent.
 */
import * as net from 'node:net';
import { checksum } from '../../debug-adapter/engines/qemu/gdb-remote';

const TARGET_XML = `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">
<target><architecture>i386:x86-64</architecture><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>`;
const CORE_XML = `<feature name="org.gnu.gdb.i386.core"><reg name="rax" bitsize="64" type="int64"/>
<reg name="rip" bitsize="64" type="code_ptr"/><!-- <reg name="cs_base" bitsize="64" type="int"/> --></feature>`;
const SYS_XML = `<feature name="org.qemu.gdb.x86.sys"><reg name="fs_base" bitsize="64" type="int" regnum="2"/>
<reg name="cr3" bitsize="64" type="int"/></feature>`;

export class FakeStub {
  readonly server: net.Server;
  port = 0;
  received: string[] = [];
  regs = [0x1122334455667788n, 0x1000n, 0n, 0x5000n];
  mem = new Uint8Array(0x10000);
  breakpoints = new Set<bigint>();
  hwBreakpoints = new Set<bigint>();
  noAck = false;
  /** Send a corrupt checksum once for the next reply (client must ask for a resend). */
  corruptNext = false;
  /** Report the next N single steps as done without executing anything (as QEMU's TCG sometimes does). */
  spuriousSteps = 0;
  private sock: net.Socket | undefined;
  private running = false;

  constructor() {
    this.server = net.createServer((s) => this.onConnection(s));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  close(): void {
    this.sock?.destroy();
    this.server.close();
  }

  private reply(payload: string, rle = false): void {
    let body = payload;
    if (rle) body = runLengthEncode(body);
    const sum = this.corruptNext ? '00' : checksum(body);
    this.lastReply = `$${body}#${sum}`;
    this.corruptNext = false;
    this.sock?.write(`$${body}#${sum}`, 'latin1');
  }
  private lastReply = '';

  private onConnection(s: net.Socket): void {
    this.sock = s;
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      for (;;) {
        if (buf.length === 0) return;
        if (buf[0] === '+') { buf = buf.slice(1); continue; }
        if (buf[0] === '-') { buf = buf.slice(1); s.write(this.lastReply.replace(/#..$/, (m) => m === '#00' ? '#' + checksum(this.lastReply.slice(1, -3)) : m)); continue; }
        if (buf[0] === '\x03') { buf = buf.slice(1); this.received.push('<interrupt>'); if (this.running) { this.running = false; this.reply('T02thread:01;'); } continue; }
        const hash = buf.indexOf('#');
        if (buf[0] !== '$' || hash < 0 || buf.length < hash + 3) return;
        const payload = buf.slice(1, hash);
        buf = buf.slice(hash + 3);
        if (!this.noAck) s.write('+');
        this.received.push(payload);
        this.handle(payload);
      }
    });
  }

  private regHex(i: number): string {
    let v = this.regs[i];
    let out = '';
    for (let k = 0; k < 8; k++) { out += (v & 0xffn).toString(16).padStart(2, '0'); v >>= 8n; }
    return out;
  }

  private handle(p: string): void {
    if (p.startsWith('qSupported')) return this.reply('PacketSize=1000;qXfer:features:read+;QStartNoAckMode+;vContSupported+');
    if (p === 'QStartNoAckMode') { this.reply('OK'); this.noAck = true; return; }
    if (p.startsWith('qXfer:features:read:')) {
      const [annex, range] = p.slice('qXfer:features:read:'.length).split(':');
      const doc = annex === 'target.xml' ? TARGET_XML : annex === 'core.xml' ? CORE_XML : annex === 'sys.xml' ? SYS_XML : undefined;
      if (!doc) return this.reply('E00');
      const [off, len] = range.split(',').map((x) => parseInt(x, 16));
      // Small chunks on purpose: the client must follow 'm' (more) replies.
      const n = Math.min(len, 100);
      const part = doc.slice(off, off + n);
      return this.reply((off + n >= doc.length ? 'l' : 'm') + part.replace(/[#$}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20)));
    }
    if (p === '?') return this.reply('T05thread:01;');
    if (p === 'g') return this.reply(this.regs.map((_, i) => this.regHex(i)).join(''), true);
    if (p[0] === 'p') return this.reply(this.regHex(parseInt(p.slice(1), 16)));
    if (p[0] === 'P') {
      const [n, hex] = p.slice(1).split('=');
      let v = 0n;
      for (let i = hex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
      this.regs[parseInt(n, 16)] = v;
      return this.reply('OK');
    }
    if (p[0] === 'm') {
      const [a, l] = p.slice(1).split(',').map((x) => parseInt(x, 16));
      if (a < 0x1000 || a + l > 0x11000) return this.reply('E14');
      return this.reply(Buffer.from(this.mem.subarray(a - 0x1000, a - 0x1000 + l)).toString('hex'), true);
    }
    if (p[0] === 'M') {
      const [head, hex] = p.slice(1).split(':');
      const a = parseInt(head.split(',')[0], 16);
      this.mem.set(Buffer.from(hex, 'hex'), a - 0x1000);
      return this.reply('OK');
    }
    if (/^[Zz][01],/.test(p)) {
      const set = p[1] === '1' ? this.hwBreakpoints : this.breakpoints;
      const addr = BigInt('0x' + p.split(',')[1]);
      if (p[0] === 'Z') set.add(addr); else set.delete(addr);
      return this.reply('OK');
    }
    if (p === 's' || p === 'vCont;s') {
      if (this.spuriousSteps > 0) this.spuriousSteps--; else this.regs[1] += 1n;
      return this.reply('T05thread:01;');
    }
    if (p === 'c' || p === 'vCont;c') {
      const all = [...this.breakpoints, ...this.hwBreakpoints].filter((b) => b > this.regs[1]).sort((x, y) => (x < y ? -1 : 1));
      if (all.length) { this.regs[1] = all[0]; return this.reply(`T05thread:01;${p === 'c' ? 'swbreak:;' : ''}`); }
      this.sock?.write(`$O${Buffer.from('console: running\n').toString('hex')}#${checksum('O' + Buffer.from('console: running\n').toString('hex'))}`);
      this.running = true; // until interrupted
      return;
    }
    if (p.startsWith('qRcmd,')) {
      const cmd = Buffer.from(p.slice(6), 'hex').toString();
      const text = cmd === 'info registers' ? 'RAX=1122334455667788\nEFER=0000000000000d01\n' : `unknown command: ${cmd}\n`;
      const hex = Buffer.from(text).toString('hex');
      this.sock?.write(`$O${hex}#${checksum('O' + hex)}`);
      return this.reply('OK');
    }
    if (p === 'vHang') return; // never answered: tests a connection lost mid-request
    if (p === 'D') return this.reply('OK');
    if (p === 'k') { this.sock?.end(); return; }
    this.reply('');
  }
}

/** GDB's run-length encoding: X*c repeats X (c-29) more times; counts that would be '#', '$', '+' or '-' are avoided. */
export function runLengthEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    let run = 1;
    while (i + run < s.length && s[i + run] === s[i] && run < 98) run++;
    let n = run - 1;
    while ([6, 7, 14, 16].includes(n)) n--;
    if (n >= 3) { out += s[i] + '*' + String.fromCharCode(n + 29); i += n + 1; } else { out += s[i]; i += 1; }
  }
  return out;
}
