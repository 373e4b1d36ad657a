/** Boot a system from the bundled sources (or the seed), built with GNU tools or kentry's own assembler/linker. */
import { assemble } from '../../../emulator/asm';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import {
  KERNEL_PROFILES, bootSystem, kernelTranslationUnits, resolveConfig, userTranslationUnit, withGeneratedHeaders, type BootedSystem,
} from '../../../emulator/kernel';
import { diskFiles, gnuAssemble, gnuLink, samplesDir } from './gnu-tools';

export interface BootChoice {
  entryFile?: string;
  config?: Record<string, boolean>;
  /** 'gnu' (default): gcc -E + as + ld; 'kentry': emulator/asm's assembler and linker (with line tables). */
  toolchain?: 'gnu' | 'kentry';
}

export function bootWithGnu(cpu: string, opts: BootChoice = {}): BootedSystem {
  const profile = KERNEL_PROFILES['5.8'];
  const config = resolveConfig(profile, opts.config);
  const entry = opts.entryFile ?? `${samplesDir}/entry_64.S`;
  const fsx = withGeneratedHeaders(diskFiles, profile, config);
  const units = kernelTranslationUnits(entry, samplesDir, profile, config, fsx);
  const userUnit = userTranslationUnit(`${samplesDir}/user/hello.S`, samplesDir);
  const own = opts.toolchain === 'kentry';
  const kernel = units.map((u) => (own ? assemble({ ...u, fs: fsx }) : gnuAssemble(u, profile, config)));
  const user = own ? assemble({ ...userUnit, fs: fsx }) : gnuAssemble(userUnit, profile, config);
  const booted = bootSystem({ profile, config, cpu: CPU_PROFILES[cpu], kernel, user, link: own ? undefined : gnuLink });
  if ('errors' in booted) throw new Error(booted.errors.map((e) => `${e.loc.file}:${e.loc.line} ${e.message}`).join('\n'));
  return booted;
}

export function bootWithKentry(cpu: string, opts: Omit<BootChoice, 'toolchain'> = {}): BootedSystem {
  return bootWithGnu(cpu, { ...opts, toolchain: 'kentry' });
}
