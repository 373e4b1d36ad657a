/**
 * CPU models the emulator can pretend to be. Behaviour that differs between vendors (SYSRET's
 * canonical check, AMD's SS attribute quirk) and CPUID answers come from here.
 * Feature names are Linux's X86_FEATURE_* without the prefix.
 */
export interface CpuProfile {
  name: string;
  vendor: 'intel' | 'amd';
  /** One line for the UI. */
  description: string;
  features: ReadonlySet<string>;
  family: number;
  model: number;
  stepping: number;
  /** Physical address width in bits (CPUID 0x80000008 EAX[7:0]). */
  maxPhysAddr: number;
  /** Linear address width in bits: 48, or 57 with LA57. */
  maxLinearAddr: number;
  brand: string;
}

const COMMON = ['FPU', 'TSC', 'MSR', 'PAE', 'CX8', 'APIC', 'SEP', 'PGE', 'CMOV', 'PAT', 'CLFLUSH', 'MMX', 'FXSR',
  'XMM', 'XMM2', 'SYSCALL', 'NX', 'LM', 'RDTSCP', 'XMM3', 'CX16', 'POPCNT', 'XSAVE', 'GBPAGES', 'ABM', 'RDRAND', 'RDSEED', 'MOVBE'];

export const CPU_PROFILES: Record<string, CpuProfile> = {
  intel: {
    name: 'intel',
    vendor: 'intel',
    description: 'Intel Skylake-SP-like server: PCID, INVPCID, SMEP, SMAP, FSGSBASE; 4-level paging',
    features: new Set([...COMMON, 'PCID', 'INVPCID', 'SMEP', 'SMAP', 'FSGSBASE', 'ERMS', 'BMI1', 'BMI2', 'SPEC_CTRL', 'MD_CLEAR']),
    family: 6, model: 0x55, stepping: 4,
    maxPhysAddr: 46, maxLinearAddr: 48,
    brand: 'kentry emulated Intel(R) Xeon(R) (Skylake-SP)',
  },
  'intel-la57': {
    name: 'intel-la57',
    vendor: 'intel',
    description: 'Intel Ice Lake-SP-like server with 5-level paging (LA57)',
    features: new Set([...COMMON, 'PCID', 'INVPCID', 'SMEP', 'SMAP', 'FSGSBASE', 'ERMS', 'BMI1', 'BMI2', 'SPEC_CTRL', 'MD_CLEAR', 'LA57', 'UMIP', 'RDPID']),
    family: 6, model: 0x6a, stepping: 6,
    maxPhysAddr: 52, maxLinearAddr: 57,
    brand: 'kentry emulated Intel(R) Xeon(R) (Ice Lake-SP, LA57)',
  },
  amd: {
    name: 'amd',
    vendor: 'amd',
    description: 'AMD Zen 2-like: SMEP, SMAP, FSGSBASE, no PCID; SYSRET does not check RCX at CPL0',
    features: new Set([...COMMON, 'SMEP', 'SMAP', 'FSGSBASE', 'BMI1', 'BMI2', 'UMIP', 'SYSCALL32', 'RDPID']),
    family: 0x17, model: 0x31, stepping: 0,
    maxPhysAddr: 43, maxLinearAddr: 48,
    brand: 'kentry emulated AMD EPYC (Zen 2)',
  },
};

export function hasFeature(p: CpuProfile, f: string): boolean {
  return p.features.has(f);
}

/** CPUID leaf answers from the profile: [eax, ebx, ecx, edx]. Unknown leaves answer zeros, like out-of-range leaves. */
export function cpuid(p: CpuProfile, leaf: number, subleaf: number): [number, number, number, number] {
  const f = (name: string, bit: number): number => (p.features.has(name) ? (1 << bit) >>> 0 : 0);
  const vendor = p.vendor === 'intel' ? 'GenuineIntel' : 'AuthenticAMD';
  const v = (s: string, i: number): number => s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
  const fam = p.family > 15 ? 15 : p.family;
  const extFam = p.family > 15 ? p.family - 15 : 0;
  const signature = (p.stepping & 0xf) | ((p.model & 0xf) << 4) | (fam << 8) | (((p.model >> 4) & 0xf) << 16) | (extFam << 20);
  const u = (n: number): number => n >>> 0;
  switch (leaf >>> 0) {
    case 0: return [0xd, v(vendor, 0), v(vendor, 8), v(vendor, 4)];
    case 1: return [signature, 0x00010800, u(f('XMM3', 0) | f('PCID', 17) | f('CX16', 13) | f('POPCNT', 23) | f('XSAVE', 26) | f('X2APIC', 21) | f('MOVBE', 22) | f('RDRAND', 30)),
      u(f('FPU', 0) | f('TSC', 4) | f('MSR', 5) | f('PAE', 6) | f('CX8', 8) | f('APIC', 9) | f('SEP', 11) | f('PGE', 13) | f('CMOV', 15) | f('PAT', 16) | f('CLFLUSH', 19) | f('MMX', 23) | f('FXSR', 24) | f('XMM', 25) | f('XMM2', 26))];
    case 7:
      if (subleaf !== 0) return [0, 0, 0, 0];
      return [0, u(f('FSGSBASE', 0) | f('BMI1', 3) | f('SMEP', 7) | f('BMI2', 8) | f('ERMS', 9) | f('INVPCID', 10) | f('RDSEED', 18) | f('SMAP', 20)),
        u(f('UMIP', 2) | f('LA57', 16) | f('RDPID', 22)), u(f('MD_CLEAR', 10) | f('SPEC_CTRL', 26))];
    case 0x80000000: return [0x80000008, p.vendor === 'amd' ? v(vendor, 0) : 0, p.vendor === 'amd' ? v(vendor, 8) : 0, p.vendor === 'amd' ? v(vendor, 4) : 0];
    case 0x80000001: return [p.vendor === 'amd' ? signature : 0, 0, u(1 /* LAHF in 64-bit mode */ | f('ABM', 5)),
      u(f('SYSCALL', 11) | f('NX', 20) | f('GBPAGES', 26) | f('RDTSCP', 27) | f('LM', 29))];
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const b = p.brand.padEnd(48, '\0');
      const o = (leaf - 0x80000002) * 16;
      return [u(v(b, o)), u(v(b, o + 4)), u(v(b, o + 8)), u(v(b, o + 12))];
    }
    case 0x80000008: return [p.maxPhysAddr | (p.maxLinearAddr << 8), 0, 0, 0];
    default: return [0, 0, 0, 0];
  }
}
