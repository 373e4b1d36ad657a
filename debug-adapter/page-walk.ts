/** PAGE_WALK_REQUEST: walk an address through the kernel and/or user page tables (KPTI halves). */
import { walk } from '../emulator/machine/paging';
import { CR3 } from '../emulator/machine/facts';
import type { KentryRuntime } from '../emulator/runtime/runtime';
import type { PageWalkArguments, PageWalkResult } from './protocol';
import { hex } from './variables';

const ENTRY_BITS: [bigint, string][] = [
  [1n, 'P'], [2n, 'RW'], [4n, 'US'], [8n, 'PWT'], [0x10n, 'PCD'], [0x20n, 'A'], [0x40n, 'D'], [0x80n, 'PS'], [0x100n, 'G'], [1n << 63n, 'NX'],
];

export function pageWalk(rt: KentryRuntime, args: PageWalkArguments): PageWalkResult[] {
  const address = BigInt(args.address);
  const { machine } = rt.system;
  const halves: ('user' | 'kernel')[] = args.half === 'user' ? ['user'] : args.half === 'kernel' ? ['kernel'] : ['kernel', 'user'];
  return halves.map((half) => {
    const kernelCr3 = machine.state.cr3 & ~(CR3.PTI_USER_PGTABLE_MASK | CR3.PTI_PCID_USER_MASK);
    const cr3 = half === 'user' ? kernelCr3 | CR3.PTI_USER_PGTABLE_MASK : kernelCr3;
    const r = walk({ ...machine.state, cr3 }, machine.mem, address);
    return {
      half,
      levels: r.levels.map((l) => ({
        level: `${l.name}[${l.index}]`,
        entryAddress: hex(l.entryAddress),
        entry: hex(l.value),
        decoded: ENTRY_BITS.filter(([m]) => l.value & m).map(([, n]) => n).join(' ') + ` -> ${hex(l.value & 0x000ffffffffff000n)}`,
      })),
      physical: r.phys !== undefined ? hex(r.phys) : undefined,
      fault: r.problem,
    };
  });
}
