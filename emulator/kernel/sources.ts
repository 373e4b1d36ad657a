/**
 * Which files make up the kernel and the user program, and how each is assembled: the
 * equivalent of the kernel Makefile's flags (-D__ASSEMBLY__, -include autoconf, -I paths).
 */
import type { AssembleOptions } from '../asm/types';
import type { FileAccess } from '../host';
import { GENERATED_DIR, withGeneratedHeaders } from './generated-headers';
import { KERNEL_PROFILES, profileForVersion, resolveConfig, type KernelConfig, type KernelProfile } from './profiles';
import { detectRealTree, realTreeKernel, type RealTree } from './real-tree';

/** An AssembleOptions without the FileAccess: the caller adds `fs: withGeneratedHeaders(...)`. */
export type TranslationUnit = Omit<AssembleOptions, 'fs'> & { fs?: FileAccess };

const RETURN_PATH_SYMBOL = 'swapgs_restore_regs_and_return_to_usermode';

/** The bundled second translation unit with the IRET return path. */
export function returnPathFile(samplesDir: string): string {
  return `${samplesDir}/kernel/return-to-usermode.S`;
}

export function bundledEntryFile(samplesDir: string): string {
  return `${samplesDir}/entry_64.S`;
}

export function includeDirs(samplesDir: string): string[] {
  return [`${samplesDir}/include`, GENERATED_DIR];
}

/** True when the text defines the label (as a plain label or through a SYM_* macro). */
export function definesSymbol(text: string, symbol: string): boolean {
  const label = new RegExp(`^\\s*${symbol}\\s*:`, 'm');
  const sym = new RegExp(`SYM_[A-Z_]+\\(\\s*${symbol}\\s*[,)]`);
  return label.test(text) || sym.test(text);
}

/** True when the file pulls in headers itself; otherwise it is an excerpt that needs the prelude. */
export function hasIncludes(text: string): boolean {
  return /^\s*#\s*include\b/m.test(text);
}

function kernelUnit(file: string, samplesDir: string, withPrelude: boolean): TranslationUnit {
  return {
    file,
    includeDirs: includeDirs(samplesDir),
    defines: { __ASSEMBLY__: '1', __KERNEL__: '1' },
    preIncludes: [
      `${GENERATED_DIR}/generated/autoconf.h`,
      ...(withPrelude ? [`${samplesDir}/include/kentry/prelude.h`] : []),
    ],
  };
}

/**
 * The kernel's translation units for an entry file: the file itself (with kentry's prelude
 * when it has no #include lines, e.g. the seed excerpt), plus the bundled return path when the
 * file does not define swapgs_restore_regs_and_return_to_usermode. Pass `fs` so the file can be
 * inspected; without it, the bundled entry_64.S is taken as complete and any other file as an
 * excerpt (prelude + return path).
 */
export function kernelTranslationUnits(
  entryFile: string,
  samplesDir: string,
  _profile: KernelProfile,
  _config: KernelConfig,
  fs?: FileAccess,
): TranslationUnit[] {
  const tree = fs ? detectRealTree(entryFile, fs) : undefined;
  if (tree && fs) {
    // A real tree: Kbuild's flags and the tree's headers; no prelude, no bundled return path.
    const k = realTreeKernel(tree, fs, {});
    return [{ file: entryFile, includeDirs: k.includeDirs, defines: k.defines, preIncludes: k.preIncludes, fs: k.fs }];
  }
  const text = fs?.readFile(entryFile);
  const isBundled = entryFile === bundledEntryFile(samplesDir);
  const needsPrelude = text !== undefined ? !hasIncludes(text) : !isBundled;
  const needsReturnPath = text !== undefined ? !definesSymbol(text, RETURN_PATH_SYMBOL) : !isBundled;
  const units = [kernelUnit(entryFile, samplesDir, needsPrelude)];
  if (needsReturnPath) units.push(kernelUnit(returnPathFile(samplesDir), samplesDir, false));
  return units;
}

/** The ring-3 program: its own headers (asm/unistd_64.h ...) come from the same include path. */
export function userTranslationUnit(programFile: string, samplesDir: string): TranslationUnit {
  return {
    file: programFile,
    includeDirs: includeDirs(samplesDir),
    defines: { __ASSEMBLY__: '1' },
    preIncludes: [],
  };
}

/** What a session assembles and boots: the profile and config in force, the units, and the files they read. */
export interface KernelBuild {
  profile: KernelProfile;
  config: KernelConfig;
  /** Every unit carries its FileAccess (the real tree's, or the host's plus generated headers). */
  units: (TranslationUnit & { fs: FileAccess })[];
  /** FileAccess for the user program (generated unistd_64.h etc. of the same profile). */
  fs: FileAccess;
  /** Set when the entry file is a real tree's arch/x86/entry/entry_64.S. */
  tree?: RealTree;
}

/**
 * Pick the profile and build the kernel units for an entry file. A real tree decides its own
 * version (Makefile) unless launch.json names one; otherwise `version` (default 5.8, the bundled
 * sample's) picks a bundled profile.
 */
export function kernelBuild(
  entryFile: string, samplesDir: string, hostFs: FileAccess, version?: string, overrides?: Record<string, boolean>,
): KernelBuild | { error: string } {
  const tree = detectRealTree(entryFile, hostFs);
  if (tree) {
    try {
      const k = realTreeKernel(tree, hostFs, overrides ?? {}, version);
      const fs = withGeneratedHeaders(k.fs, k.profile, k.config);
      return {
        profile: k.profile, config: k.config, tree, fs,
        units: [{ file: entryFile, includeDirs: k.includeDirs, defines: k.defines, preIncludes: k.preIncludes, fs }],
      };
    } catch (e) {
      return { error: `${entryFile}: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  const profile = version ? profileForVersion(version) : KERNEL_PROFILES['5.8'];
  if (!profile) return { error: `unknown kernel version "${version}" (known: ${Object.keys(KERNEL_PROFILES).join(', ')})` };
  if (profile.family !== '5.8') {
    // The bundled sample, its headers and the seed excerpt are 5.8 code (do_syscall_64(nr, regs), stack top in TSS sp1).
    return { error: `kernel.version "${version}": the bundled sample and excerpts are Linux 5.8 entry code; for ${profile.family} set kernelEntry to a real tree's arch/x86/entry/entry_64.S (scripts/linux-trees.sh prepares 6.1 and 6.12)` };
  }
  const config = resolveConfig(profile, overrides);
  const fs = withGeneratedHeaders(hostFs, profile, config);
  const units = kernelTranslationUnits(entryFile, samplesDir, profile, config, fs).map((u) => ({ ...u, fs }));
  return { profile, config, units, fs };
}
