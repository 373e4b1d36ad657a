/**
 * Which code a booted kernel runs at an ALTERNATIVE site, for the CPU profile in the settings:
 * the document's object is linked on its own and patched by the kernel side's applyAlternatives()
 * with bootFeatures()' decisions, the very code and reasons the debugger's boot uses
 * (emulator/kernel/boot.ts), so the editor and the machine-state view never disagree.
 */
import type { LinkedImage, ObjectImage } from '../emulator/asm/types';
import { link } from '../emulator/asm/link';
import { CPU_PROFILES } from '../emulator/cpu/profiles';
import { applyAlternatives, imageBytes, type AppliedAlternative } from '../emulator/kernel/alternatives';
import { bootFeatures } from '../emulator/kernel/boot';
import type { KernelConfig, KernelProfile } from '../emulator/kernel/profiles';

export const DEFAULT_CPU = 'intel';

/** Every alternative record of one assembled file, decided for `cpuName` (unknown names: no answer). */
export function bootAlternatives(image: ObjectImage, profile: KernelProfile, config: KernelConfig, cpuName: string): AppliedAlternative[] | undefined {
  const cpu = CPU_PROFILES[cpuName];
  if (!cpu) return undefined;
  // Where the sections land does not matter for the decision; unresolved externs only leave zeros behind.
  const linked: LinkedImage = link([image], { sectionBases: {}, defaultBase: 0xffffffff81000000n, externs: new Map() });
  if (!linked.segments.length) return undefined;
  const { features, reasons } = bootFeatures(profile, config, cpu);
  const write = (va: bigint, bytes: Uint8Array): void => {
    for (const s of linked.segments) if (va >= s.address && va + BigInt(bytes.length) <= s.address + BigInt(s.bytes.length)) s.bytes.set(bytes, Number(va - s.address));
  };
  return applyAlternatives(
    linked, profile,
    // The same wording as bootSystem's, so hover and machine-state view read alike.
    { features, why: (f, present) => `X86_FEATURE_${f} ${present ? 'present' : 'absent'}: ${reasons.get(f) ?? (present ? 'set' : `the ${cpu.name} CPU does not have it`)}` },
    (va, len) => imageBytes(linked, va, len) ?? new Uint8Array(len),
    write,
  );
}

/** The records a hover at `file:line` (1-based) is about: the line that emitted the site, or where ALTERNATIVE itself was used. */
export function alternativesAt(all: readonly AppliedAlternative[], file: string, line: number): AppliedAlternative[] {
  return all.filter((a) => (a.loc?.file === file && a.loc.line === line) || (a.alternativeAt?.file === file && a.alternativeAt.line === line));
}

/** Markdown: per record, the feature, what a booted kernel runs there, and why. */
export function alternativesMarkdown(records: readonly AppliedAlternative[], cpuName: string): string | undefined {
  if (!records.length) return undefined;
  const rows = records.map((a) => {
    const flag = `${a.inverted ? '!' : ''}X86_FEATURE_${a.feature}`;
    const live = a.applied ? 'the replacement is patched in' : 'the original code stays';
    return `- \`${flag}\`: ${live}. ${a.reason}`;
  });
  return `**At boot on the ${cpuName} CPU** (setting \`kentry.cpu\`):\n\n${rows.join('\n')}`;
}
