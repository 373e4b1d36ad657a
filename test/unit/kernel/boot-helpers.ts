/** Boot a system from the bundled sources (or the seed) built with GNU tools. */
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import {
  KERNEL_PROFILES, bootSystem, kernelTranslationUnits, resolveConfig, userTranslationUnit, withGeneratedHeaders, type BootedSystem,
} from '../../../emulator/kernel';
import { diskFiles, gnuAssemble, gnuLink, samplesDir } from './gnu-tools';

export function bootWithGnu(cpu: string, opts: { entryFile?: string; config?: Record<string, boolean> } = {}): BootedSystem {
  const profile = KERNEL_PROFILES['5.8'];
  const config = resolveConfig(profile, opts.config);
  const entry = opts.entryFile ?? `${samplesDir}/entry_64.S`;
  const units = kernelTranslationUnits(entry, samplesDir, profile, config, withGeneratedHeaders(diskFiles, profile, config));
  const kernel = units.map((u) => gnuAssemble(u, profile, config));
  const user = gnuAssemble(userTranslationUnit(`${samplesDir}/user/hello.S`, samplesDir), profile, config);
  const booted = bootSystem({ profile, config, cpu: CPU_PROFILES[cpu], kernel, user, link: gnuLink });
  if ('errors' in booted) throw new Error(booted.errors.map((e) => e.message).join('\n'));
  return booted;
}
