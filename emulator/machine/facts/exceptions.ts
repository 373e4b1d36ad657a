/** Exception vectors (Intel SDM vol. 3, 6.3.1) and which ones push an error code. */
export interface ExceptionInfo {
  vector: number;
  name: string;
  errorCode: boolean;
  doc: string;
}

export const EXCEPTIONS: readonly ExceptionInfo[] = [
  { vector: 0, name: '#DE', errorCode: false, doc: 'Divide error' },
  { vector: 1, name: '#DB', errorCode: false, doc: 'Debug' },
  { vector: 2, name: 'NMI', errorCode: false, doc: 'Non-maskable interrupt' },
  { vector: 3, name: '#BP', errorCode: false, doc: 'Breakpoint (int3)' },
  { vector: 4, name: '#OF', errorCode: false, doc: 'Overflow (into)' },
  { vector: 5, name: '#BR', errorCode: false, doc: 'Bound range exceeded' },
  { vector: 6, name: '#UD', errorCode: false, doc: 'Invalid opcode' },
  { vector: 7, name: '#NM', errorCode: false, doc: 'Device not available' },
  { vector: 8, name: '#DF', errorCode: true, doc: 'Double fault (error code always 0)' },
  { vector: 10, name: '#TS', errorCode: true, doc: 'Invalid TSS' },
  { vector: 11, name: '#NP', errorCode: true, doc: 'Segment not present' },
  { vector: 12, name: '#SS', errorCode: true, doc: 'Stack-segment fault (non-canonical stack address)' },
  { vector: 13, name: '#GP', errorCode: true, doc: 'General protection' },
  { vector: 14, name: '#PF', errorCode: true, doc: 'Page fault (CR2 holds the linear address)' },
  { vector: 16, name: '#MF', errorCode: false, doc: 'x87 floating-point error' },
  { vector: 17, name: '#AC', errorCode: true, doc: 'Alignment check' },
  { vector: 18, name: '#MC', errorCode: false, doc: 'Machine check' },
  { vector: 19, name: '#XM', errorCode: false, doc: 'SIMD floating-point exception' },
  { vector: 21, name: '#CP', errorCode: true, doc: 'Control-protection (CET)' },
];

export const VECTOR = {
  DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14,
  MF: 16, AC: 17, MC: 18, XM: 19, CP: 21,
} as const;

export const EXCEPTION_BY_VECTOR: ReadonlyMap<number, ExceptionInfo> = new Map(EXCEPTIONS.map((e) => [e.vector, e]));

export function exceptionName(vector: number): string {
  return EXCEPTION_BY_VECTOR.get(vector)?.name ?? `vector ${vector}`;
}

/** Contributory exceptions: two of them in a row (or a #PF then one of them) make a #DF (SDM table 6-5). */
export const CONTRIBUTORY_VECTORS: ReadonlySet<number> = new Set([0, 10, 11, 12, 13]);
