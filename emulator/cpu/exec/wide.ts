/**
 * CMPXCHG8B/CMPXCHG16B (user-space lock-free code, Linux's this_cpu_cmpxchg_double),
 * RDRAND/RDSEED, which user programs and the kernel's early entropy may run, and MOVBE
 * (gcc emits it for byte-swapped loads and stores with -march=haswell and later).
 */
import { Code, Mnemonic, Register } from 'iced-x86';
import { RFLAGS } from '../../machine/facts/rflags';
import type { Machine } from '../../machine/machine';
import type { DecodedInsn, Handler } from '../decoded';
import { CpuFault } from '../fault';
import { MASK, writeGpr } from '../registers';

const M64 = MASK[8];
const M32 = MASK[4];

/** CMPXCHG8B m64 / CMPXCHG16B m128: compare rDX:rAX with the memory, store rCX:rBX if equal. */
const cmpxchgWide: Handler = (m, d) => {
  const wide = d.code === Code.Cmpxchg16b_m128;
  const half = wide ? 8 : 4;
  const mask = wide ? M64 : M32;
  const s = m.state;
  const lin = m.memoryLinear(d);
  if (wide && !m.profile.features.has('CX16')) throw new CpuFault(6, `#UD: cmpxchg16b on a CPU without CX16 (${m.profile.name})`);
  if (wide && (lin & 0xfn) !== 0n) throw new CpuFault(13, `#GP(0): cmpxchg16b operand 0x${lin.toString(16)} is not 16-byte aligned`, 0);
  const stack = d.memSeg === Register.SS;
  // A locked read-modify-write: the destination is written either way, so check write access first.
  m.probeWrite(lin, 2 * half, stack);
  const lo = m.readLinear(lin, half, stack);
  const hi = m.readLinear((lin + BigInt(half)) & M64, half, stack);
  const equal = lo === (s.gpr[0] & mask) && hi === (s.gpr[2] & mask);
  if (equal) {
    m.writeLinear(lin, half, s.gpr[3] & mask, stack);
    m.writeLinear((lin + BigInt(half)) & M64, half, s.gpr[1] & mask, stack);
  } else {
    m.writeLinear(lin, half, lo, stack);
    m.writeLinear((lin + BigInt(half)) & M64, half, hi, stack);
    // 32-bit register writes zero-extend (RAX/RDX change even when only EAX/EDX are loaded).
    s.gpr[0] = lo;
    s.gpr[2] = hi;
  }
  s.rflags = equal ? s.rflags | RFLAGS.ZF : s.rflags & ~RFLAGS.ZF;
};

/** xorshift64*: deterministic, so a replayed session sees the same "random" numbers. */
function nextRandom(m: Machine): bigint {
  let x = m.randomState;
  x ^= x >> 12n;
  x ^= (x << 25n) & M64;
  x ^= x >> 27n;
  m.randomState = x;
  return (x * 0x2545f4914f6cdd1dn) & M64;
}

/** RDRAND/RDSEED r: a value and CF=1 (always available); OF, SF, ZF, AF, PF cleared. */
function random(feature: string): Handler {
  return (m: Machine, d: DecodedInsn) => {
    if (!m.profile.features.has(feature)) throw new CpuFault(6, `#UD: ${feature.toLowerCase()} on a CPU without ${feature} (${m.profile.name})`);
    writeGpr(m.state, d.opRegs[0], nextRandom(m) & MASK[d.opSizes[0]]);
    m.state.rflags = (m.state.rflags & ~(RFLAGS.OF | RFLAGS.SF | RFLAGS.ZF | RFLAGS.AF | RFLAGS.PF)) | RFLAGS.CF;
  };
}

function byteSwap(v: bigint, size: number): bigint {
  let r = 0n;
  for (let i = 0; i < size; i++) { r = (r << 8n) | (v & 0xffn); v >>= 8n; }
  return r;
}

/** MOVBE r, m / MOVBE m, r: a load or store with the bytes reversed; flags unchanged. */
const movbe: Handler = (m, d) => {
  if (!m.profile.features.has('MOVBE')) throw new CpuFault(6, `#UD: movbe on a CPU without MOVBE (${m.profile.name})`);
  const size = d.memSize;
  m.writeOp(d, 0, byteSwap(m.readOp(d, 1) & MASK[size], size));
};

export const WIDE_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.Movbe, movbe],
  [Mnemonic.Cmpxchg8b, cmpxchgWide],
  [Mnemonic.Cmpxchg16b, cmpxchgWide],
  [Mnemonic.Rdrand, random('RDRAND')],
  [Mnemonic.Rdseed, random('RDSEED')],
];
