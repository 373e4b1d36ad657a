/**
 * Where the booted system keeps things, virtual and physical: one CPU (CPU 0), one task.
 * Virtual addresses follow the profile's layout; physical frames are kentry's choice.
 */
import type { KernelProfile } from './profiles';

export interface SystemLayout {
  /** GS base in the kernel: CPU 0's per-CPU area, in the direct map. */
  perCpuBase: bigint;
  perCpuPhys: bigint;
  /** cpu_tss_rw of CPU 0 (its x86_hw_tss), writable per-CPU copy. */
  tssAddress: bigint;
  /** The TSS as the CPU sees it (TR base): the read-only alias in cpu_entry_area. */
  tssAlias: bigint;
  /** The GDT as the CPU sees it (GDTR base): the read-only alias in cpu_entry_area. */
  gdtAlias: bigint;
  gdtAddress: bigint;
  /** CPU 0's cpu_entry_area. */
  cpuEntryArea: bigint;
  taskStackTop: bigint;
  taskStackBottom: bigint;
  taskStackPhys: bigint;
  /** The trampoline (entry) stack in cpu_entry_area: TSS.sp0 = entryStackTop. */
  entryStackTop: bigint;
  entryStackBottom: bigint;
  userStackTop: bigint;
  userStackBottom: bigint;
  /** Physical addresses of the top-level tables (the user one is kernelPgd + 4 KiB with PTI). */
  kernelPgd: bigint;
  userPgd: bigint;
}

/** Physical memory plan (bytes): kernel image by __START_KERNEL_map, the rest in fixed regions. */
export const PHYS = {
  perCpu: 0x2000000n,
  taskStack: 0x2100000n,
  userFrames: 0x3000000n,
  userFramesEnd: 0x3800000n,
  pageTables: 0x4000000n,
  pageTablesEnd: 0x4800000n,
} as const;

/** Virtual address of the task stack's lowest byte (a vmalloc'ed VMAP stack after a guard page). */
export function taskStackBottom(profile: KernelProfile): bigint {
  return profile.layout.vmallocStart + 0x10000n;
}

export function perCpuAddress(profile: KernelProfile, perCpuBase: bigint, variable: string): bigint {
  const v = profile.perCpu[variable];
  if (!v) throw new Error(`per-CPU variable ${variable} is not in the ${profile.version} profile`);
  return perCpuBase + BigInt(v.offset);
}
