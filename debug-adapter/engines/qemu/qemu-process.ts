/**
 * Starting qemu-system-x86_64 for a debug session: frozen at the first instruction (-S) with its
 * gdb stub on a free local port, the serial console on stdout, no reboot (a reboot ends QEMU).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

/** launch.json `qemu` attributes. */
export interface QemuLaunchOptions {
  /** bzImage (or any kernel QEMU's -kernel accepts). Required unless `attach`. */
  kernel?: string;
  /** The same kernel with symbols and DWARF: breakpoints by source line need its line table. Required. */
  vmlinux?: string;
  /** Initramfs (cpio) for -initrd. */
  initrd?: string;
  /** Extra kernel command line (console=ttyS0 nokaslr and pti=... are always added). */
  append?: string;
  /** QEMU CPU model (-cpu), default "max" (TCG: SMEP, SMAP, PCID, FSGSBASE...). */
  cpu?: string;
  /** Page-table isolation: true adds pti=on, false pti=off, undefined leaves the kernel's default. */
  pti?: boolean;
  /** Connect to an already running gdb stub ("host:port") instead of starting QEMU. */
  attach?: string;
  /** Path of qemu-system-x86_64 (default: found on PATH). */
  qemuPath?: string;
  /** More QEMU arguments, appended as given. */
  extraArgs?: string[];
  /** Memory size (-m), default "256M". */
  memory?: string;
  /** Use KVM instead of TCG when /dev/kvm is usable (faster boot; different CPU features). */
  kvm?: boolean;
  /**
   * Insert the user's breakpoints only once the kernel reaches this function (default
   * "kernel_execve": the kernel is starting /init), so boot-time code is not stopped in.
   * "" arms them right away.
   */
  armAt?: string;
}

/** A free TCP port on 127.0.0.1 (the OS picks; closed again before QEMU binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function qemuArguments(o: QemuLaunchOptions, gdbPort: number): string[] {
  const append = ['console=ttyS0', 'nokaslr', 'panic=-1'];
  if (o.pti === true) append.push('pti=on');
  if (o.pti === false) append.push('pti=off');
  if (o.append) append.push(o.append);
  const args = [
    '-S', '-gdb', `tcp:127.0.0.1:${gdbPort}`,
    '-nographic', '-no-reboot', '-monitor', 'none', '-serial', 'stdio',
    '-m', o.memory ?? '256M',
    '-smp', '1',
    '-cpu', o.cpu ?? 'max',
    '-kernel', o.kernel ?? '',
    '-append', append.join(' '),
  ];
  if (o.kvm) args.push('-accel', 'kvm'); else args.push('-accel', 'tcg');
  if (o.initrd) args.push('-initrd', o.initrd);
  if (o.extraArgs) args.push(...o.extraArgs);
  return args;
}

export interface StartedQemu {
  process: ChildProcess;
  port: number;
  /** Resolves with the exit code (or signal name) when QEMU ends. */
  exited: Promise<number | string>;
  exitCode?: number | string;
  stderr: string;
}

/**
 * Start QEMU. Its gdb stub is ready when a connection succeeds: connect with GdbRemote in a
 * retry loop (a probe connection of our own could make the stub resume the guest on close).
 */
export async function startQemu(o: QemuLaunchOptions, onOutput: (text: string, stream: 'stdout' | 'stderr') => void): Promise<StartedQemu> {
  const port = await freePort();
  const bin = o.qemuPath ?? 'qemu-system-x86_64';
  const child = spawn(bin, qemuArguments(o, port), { stdio: ['ignore', 'pipe', 'pipe'] });
  const started: StartedQemu = { process: child, port, exited: undefined as unknown as Promise<number | string>, stderr: '' };
  child.stdout?.setEncoding('latin1');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => onOutput(d, 'stdout'));
  child.stderr?.on('data', (d: string) => { started.stderr += d; onOutput(d, 'stderr'); });
  started.exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => { started.exitCode = code ?? signal ?? -1; resolve(started.exitCode); });
    child.on('error', (e) => { started.stderr += e.message; started.exitCode = -1; resolve(-1); });
  });
  return started;
}

/** Try `connect` until it succeeds, QEMU exits, or 15 s pass. */
export async function connectWhenReady<T>(q: StartedQemu, connect: () => Promise<T>, what = 'qemu-system-x86_64'): Promise<T> {
  const deadline = Date.now() + 15000;
  for (;;) {
    if (q.exitCode !== undefined) throw new Error(`${what} exited (${q.exitCode}) before its gdb stub listened: ${q.stderr.trim() || 'no message'}`);
    try {
      return await connect();
    } catch (e) {
      if (Date.now() > deadline) {
        q.process.kill();
        throw new Error(`${what}'s gdb stub did not answer on port ${q.port} within 15 s (${e instanceof Error ? e.message : String(e)}): ${q.stderr.trim()}`, { cause: e });
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
