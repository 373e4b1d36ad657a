/**
 * What F5 debugs when there is no launch.json: the active .S file, as the kernel entry code when
 * it defines entry_SYSCALL_64, else as the ring-3 program. Pure so it can be unit-tested.
 */
import type { KentryLaunchArguments } from '../../debug-adapter/protocol';

export const DEBUG_TYPE = 'kentry';

export interface KentryDebugConfiguration extends KentryLaunchArguments {
  type: string;
  request: string;
  name: string;
  [key: string]: unknown;
}

/** True when the assembly text defines the entry_SYSCALL_64 symbol (any of the ways kernels spell it). */
export function definesSyscallEntry(text: string): boolean {
  return (
    /^\s*(SYM_CODE_START(_NOALIGN|_LOCAL)?|ENTRY|SYM_FUNC_START)\s*\(\s*entry_SYSCALL_64\s*\)/m.test(text) ||
    /^\s*entry_SYSCALL_64\s*:/m.test(text)
  );
}

/** The launch configuration for "debug this file". */
export function configurationForFile(filePath: string, text: string): KentryDebugConfiguration {
  const base = { type: DEBUG_TYPE, request: 'launch' };
  const name = filePath.split(/[\\/]/).pop() ?? filePath;
  return definesSyscallEntry(text)
    ? { ...base, name: `kentry: entry code ${name}`, kernelEntry: filePath }
    : { ...base, name: `kentry: program ${name}`, program: filePath };
}

/**
 * The emulator's CPU when launch.json names none: the `kentry.cpu` setting the editor's hovers
 * use, so the debugger and the hovers describe the same machine. launch.json's `cpu` wins; the
 * QEMU engine runs whatever CPU QEMU emulates.
 */
export function withEditorCpu<T extends Record<string, unknown>>(config: T, editorCpu: string | undefined): T {
  if (config.cpu !== undefined || config.engine === 'qemu' || !editorCpu) return config;
  return { ...config, cpu: editorCpu };
}

/** The configurations launch.json starts with (and the snippets offer). */
export const INITIAL_CONFIGURATIONS: KentryDebugConfiguration[] = [
  {
    type: DEBUG_TYPE,
    request: 'launch',
    name: 'kentry: debug this .S as the program',
    program: '${file}',
    stopOnEntry: true,
  },
  {
    type: DEBUG_TYPE,
    request: 'launch',
    name: 'kentry: bundled sample through this entry_64.S',
    kernelEntry: '${file}',
  },
];
