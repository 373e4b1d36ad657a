/**
 * kentry's custom DAP messages, declared once and imported by both the debug adapter and the
 * extension's views (as vscode-eslint's customMessages.ts / rust-analyzer's lsp_ext.ts do).
 * Values are strings ("0x...") because JSON has no 64-bit integers.
 */
import type { QemuLaunchOptions } from './engines/qemu/qemu-process';


/** Custom request: the decoded machine state for the views, as of the last stop. */
export const MACHINE_STATE_REQUEST = 'kentry/machineState';
/** Custom request: walk the page tables for an address in one or both KPTI halves. */
export const PAGE_WALK_REQUEST = 'kentry/pageWalk';
/** Custom event sent after each stop, carrying a MachineStateView (views may use it instead of asking). */
export const MACHINE_STATE_EVENT = 'kentry/machineState';

export type {
  Changeable, MsrView, FieldView, ControlRegisterView, Cr3View, PtRegsFieldView, PtRegsView, SysretCheckView, MachineStateView, AlternativeView,
} from '../emulator/kernel/machine-view';

export interface PageWalkArguments {
  address: string;
  half?: 'user' | 'kernel' | 'both';
}

export interface PageWalkLevel {
  level: string;
  entryAddress: string;
  entry: string;
  decoded: string;
}

export interface PageWalkResult {
  half: 'user' | 'kernel';
  levels: PageWalkLevel[];
  physical: string | undefined;
  fault: string | undefined;
}

/** launch.json attributes of a "kentry" configuration. */
export interface KentryLaunchArguments {
  /** The ring-3 program (.S); default: the bundled sample that calls getpid, write, exit. */
  program?: string;
  /** The kernel entry .S; default: the bundled annotated entry_64.S. A real tree's arch/x86/entry/entry_64.S works too. */
  kernelEntry?: string;
  /** Stop at the program's first instruction. */
  stopOnEntry?: boolean;
  /** CPU profile: "intel" (default) or "amd", or a profile name. */
  cpu?: string;
  /** Kernel version and config overrides. */
  kernel?: { version?: string; config?: Record<string, boolean> };
  /** Maximum instructions per continue before pausing on its own (runaway guard). */
  instructionBudget?: number;
  /** What runs the code: the built-in emulator (default) or a real kernel under QEMU. */
  engine?: 'emulator' | 'qemu';
  /** Instructions of history kept for stepping back (emulator engine); the oldest are dropped beyond it. 0 turns recording off. */
  historyLimit?: number;
  /** A prepared situation to debug (e.g. "sysret", "iret-r11-rflags"); its explanation is printed at launch. */
  scenario?: string;
  /** With engine "qemu": the kernel to boot (or a gdb stub to attach to) and how. */
  qemu?: QemuLaunchOptions;
}
