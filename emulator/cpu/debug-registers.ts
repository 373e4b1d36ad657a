/**
 * DR0-DR3 hardware breakpoints as DR7 arms them (SDM vol. 3, 17.2): instruction breakpoints fault
 * before the instruction at DRn runs (unless RFLAGS.RF), data breakpoints trap after an
 * instruction that wrote (RW=01) or read or wrote (RW=11) any byte of DRn's 1/2/4/8-byte range.
 * I/O breakpoints (RW=10, CR4.DE) are not modelled.
 */
export interface HardwareBreakpoint {
  index: number;
  /** First byte covered (DRn with the low bits below the length cleared, as the CPU compares). */
  start: bigint;
  /** One past the last byte covered. */
  end: bigint;
}

export interface ArmedBreakpoints {
  exec: HardwareBreakpoint[];
  write: HardwareBreakpoint[];
  readWrite: HardwareBreakpoint[];
}

/** LEN field -> bytes: 00=1, 01=2, 10=8, 11=4. */
const LENGTHS = [1n, 2n, 8n, 4n];

/** The breakpoints DR7 enables (L0-L3 or G0-G3), from the current DR0-DR3. */
export function armedBreakpoints(dr: readonly bigint[]): ArmedBreakpoints {
  const dr7 = Number(dr[7] & 0xffffffffn);
  const out: ArmedBreakpoints = { exec: [], write: [], readWrite: [] };
  for (let i = 0; i < 4; i++) {
    if (((dr7 >> (2 * i)) & 3) === 0) continue;
    const rw = (dr7 >>> (16 + 4 * i)) & 3;
    const len = rw === 0 ? 1n : LENGTHS[(dr7 >>> (18 + 4 * i)) & 3];
    const start = dr[i] & ~(len - 1n);
    const bp = { index: i, start, end: start + len };
    if (rw === 0) out.exec.push(bp);
    else if (rw === 1) out.write.push(bp);
    else if (rw === 3) out.readWrite.push(bp);
  }
  return out;
}

/** DR6 bits B0-B3 of the breakpoints among `list` that [linear, linear+size) touches. */
export function hits(list: readonly HardwareBreakpoint[], linear: bigint, size: number): number {
  let bits = 0;
  const end = linear + BigInt(size);
  for (const bp of list) if (linear < bp.end && end > bp.start) bits |= 1 << bp.index;
  return bits;
}
