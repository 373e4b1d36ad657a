import type { BitField } from './bits';

/**
 * Page-table entry bits for 4-level and 5-level IA-32e paging (Intel SDM vol. 3, 4.5).
 * The same layout holds at every level; PS is only meaningful in PDPTEs (1 GiB) and PDEs (2 MiB).
 */
export const PTE = {
  P: 1n << 0n,
  RW: 1n << 1n,
  US: 1n << 2n,
  PWT: 1n << 3n,
  PCD: 1n << 4n,
  A: 1n << 5n,
  D: 1n << 6n,
  PS: 1n << 7n,
  G: 1n << 8n,
  NX: 1n << 63n,
  /** Physical address of the next table / the 4 KiB frame (bits 51:12). */
  ADDR_MASK: 0x000ffffffffff000n,
  /** Frame address of a 2 MiB page (bits 51:21). */
  ADDR_MASK_2M: 0x000fffffffe00000n,
  /** Frame address of a 1 GiB page (bits 51:30). */
  ADDR_MASK_1G: 0x000fffffc0000000n,
} as const;

export const PTE_FIELDS: readonly BitField[] = [
  { name: 'P', bit: 0, doc: 'Present' },
  { name: 'RW', bit: 1, doc: 'Writable (supervisor writes ignore it unless CR0.WP)' },
  { name: 'US', bit: 2, doc: 'User accessible (must be set at every level for ring 3)' },
  { name: 'PWT', bit: 3, doc: 'Page write-through' },
  { name: 'PCD', bit: 4, doc: 'Page cache disable' },
  { name: 'A', bit: 5, doc: 'Accessed: set by the CPU on the walk' },
  { name: 'D', bit: 6, doc: 'Dirty: set by the CPU on the first write (leaf only)' },
  { name: 'PS', bit: 7, doc: 'Page size: this PDE/PDPTE maps a 2 MiB / 1 GiB page' },
  { name: 'G', bit: 8, doc: 'Global (leaf, with CR4.PGE): survives CR3 writes; KPTI maps only the entry text global' },
  { name: 'NX', bit: 63, doc: 'No-execute (with EFER.NXE): KPTI marks the user copy of kernel memory NX' },
];

/** #PF error code bits (Intel SDM vol. 3, 4.7). */
export const PF_ERR = {
  P: 1 << 0,
  W: 1 << 1,
  U: 1 << 2,
  RSVD: 1 << 3,
  I: 1 << 4,
  PK: 1 << 5,
} as const;

export const PF_ERR_FIELDS: readonly BitField[] = [
  { name: 'P', bit: 0, doc: '0: page not present; 1: protection violation' },
  { name: 'W', bit: 1, doc: 'The access was a write' },
  { name: 'U', bit: 2, doc: 'The access was a user-mode access' },
  { name: 'RSVD', bit: 3, doc: 'A reserved bit was set in a paging-structure entry' },
  { name: 'I', bit: 4, doc: 'The access was an instruction fetch' },
  { name: 'PK', bit: 5, doc: 'Protection-key violation' },
];

/** Level names from the top of a 5-level walk down; a 4-level walk starts at PML4. */
export const PAGING_LEVEL_NAMES = ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'] as const;
