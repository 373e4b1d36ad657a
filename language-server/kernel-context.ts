/**
 * How the server builds a document the way the debugger will: with the chosen kernel profile's
 * generated headers (autoconf.h, asm-offsets.h ...), kentry's prelude for bare excerpts such as
 * the seed, and the same -I/-D/-include flags (emulator/kernel/sources.ts).
 */
import type { FileAccess } from '../emulator/host';
import { generatedHeaders, withGeneratedHeaders } from '../emulator/kernel/generated-headers';
import { KERNEL_PROFILES, resolveConfig, type KernelConfig, type KernelProfile } from '../emulator/kernel/profiles';
import type { KnownValue } from './hover';
import { kernelBuild, kernelTranslationUnits, userTranslationUnit } from '../emulator/kernel/sources';
import type { KernelSettings } from './protocol';

export interface BuildSettings {
  fs: FileAccess;
  includeDirs: string[];
  defines: Record<string, string>;
  preIncludes: string[];
  /** The other files linked with this one (e.g. the bundled IRET return path): where its extern labels live. */
  siblings: string[];
  /** Name -> value shown in hovers (asm-offsets, per-CPU offsets, errno, features, syscall numbers). */
  values: Map<string, KnownValue>;
  /** The kernel profile and config the file is built with (a real tree's own facts); unset without kernel settings. */
  profile?: KernelProfile;
  config?: KernelConfig;
}

/** The profile for a version ("5.8", "5.8.13", "v6.1.55"); no version: the newest key (the bundled sample's). */
export function profileFor(version: string | undefined): KernelProfile | undefined {
  const versions = Object.keys(KERNEL_PROFILES);
  if (!version) return KERNEL_PROFILES[versions[versions.length - 1]];
  if (Object.prototype.hasOwnProperty.call(KERNEL_PROFILES, version)) return KERNEL_PROFILES[version];
  const m = /^v?(\d+\.\d+)/.exec(version);
  return m && Object.prototype.hasOwnProperty.call(KERNEL_PROFILES, m[1]) ? KERNEL_PROFILES[m[1]] : undefined;
}

/** The profile's numbers that are not machine facts, by the names the assembly uses. */
export function profileValues(profile: KernelProfile, config: KernelConfig): Map<string, KnownValue> {
  const v = new Map<string, KnownValue>();
  const from = `Linux ${profile.release} profile`;
  // Where each kind of number comes from: a real tree's own generated headers, or the bundled family facts.
  const source = (kind: string): string => (profile.factSources[kind] ? `Linux ${profile.release}: ${profile.factSources[kind]}` : from);
  for (const [k, n] of Object.entries(profile.asmOffsets)) v.set(k, { value: `${n}`, meaning: `asm-offset (${source('asmOffsets')}).` });
  for (const [k, p] of Object.entries(profile.perCpu)) v.set(k, { value: `%gs:0x${p.offset.toString(16)}`, meaning: `Per-CPU variable, ${p.size} bytes. ${p.doc}` });
  for (const [k, n] of Object.entries(profile.errno)) v.set(k, { value: `${n}`, meaning: `errno; the entry code stores -${k} in pt_regs->ax.` });
  for (const [k, n] of Object.entries(profile.x86Features)) v.set(`X86_FEATURE_${k}`, { value: `${n}`, meaning: `CPU feature bit: word ${Math.floor(n / 32)}, bit ${n % 32} (${source('x86Features')}). ALTERNATIVE patches on it.` });
  for (const s of profile.syscalls) v.set(`__NR_${s.name}`, { value: `${s.nr}`, meaning: `\`${s.signature}\`` });
  for (const [k, c] of Object.entries(profile.configSymbols)) v.set(`CONFIG_${k}`, { value: config[k] ? 'y' : 'n', meaning: `${c.doc} (${source('config')})` });
  for (const [k, alias] of Object.entries(profile.cppAliases)) v.set(k, { value: alias, meaning: `Alias in Linux ${profile.release}.` });
  return v;
}

/**
 * Build settings for `file`: a user program under samples/user, else the kernel as the debugger
 * builds it (emulator/kernel/sources.ts kernelBuild): a real tree's own headers, Kbuild flags and
 * facts (its asm-offsets.h, autoconf.h, cpufeatures.h), else the bundled 5.8 profile.
 */
export function kernelBuildFor(file: string, fs: FileAccess, k: KernelSettings): BuildSettings | undefined {
  if (file.startsWith(`${k.samplesDir}/user/`)) return profileBuildFor(file, fs, k);
  const b = kernelBuild(file, k.samplesDir, fs, k.version, k.config);
  // kernelBuild refuses a 6.x version for a bundled excerpt (the debugger would not boot it); the editor still builds it.
  if ('error' in b) return profileBuildFor(file, fs, k);
  const unit = b.units[0];
  return {
    siblings: b.units.slice(1).map((u) => u.file),
    fs: unit.fs,
    includeDirs: unit.includeDirs ?? [],
    defines: unit.defines ?? {},
    preIncludes: unit.preIncludes ?? [],
    values: profileValues(b.profile, b.config),
    profile: b.profile,
    config: b.config,
  };
}

/** The named (or newest) bundled profile's generated headers: user programs, and excerpts built for a 6.x version. */
function profileBuildFor(file: string, fs: FileAccess, k: KernelSettings): BuildSettings | undefined {
  const profile = profileFor(k.version);
  if (!profile) return undefined;
  const config = resolveConfig(profile, k.config);
  const wrapped = withGeneratedHeaders(fs, profile, config);
  const units = file.startsWith(`${k.samplesDir}/user/`)
    ? [userTranslationUnit(file, k.samplesDir)]
    : kernelTranslationUnits(file, k.samplesDir, profile, config, wrapped);
  const unit = units[0];
  return {
    siblings: units.slice(1).map((u) => u.file),
    fs: wrapped,
    includeDirs: unit.includeDirs ?? [],
    defines: unit.defines ?? {},
    preIncludes: unit.preIncludes ?? [],
    values: profileValues(profile, config),
    profile,
    config,
  };
}

/**
 * The text of one generated header (`/kentry-generated/generated/asm-offsets.h`) for these kernel
 * settings: the same generatedHeaders() map withGeneratedHeaders() serves to the assembler here
 * and in the debugger, so the editor shows exactly what was assembled.
 */
export function generatedHeaderText(k: KernelSettings, file: string): string | undefined {
  const profile = profileFor(k.version);
  return profile && generatedHeaders(profile, resolveConfig(profile, k.config)).get(file);
}
