/**
 * The line table as the booted kernel runs it. Boot-time alternatives overwrite original
 * instructions with replacement bytes (and NOP padding), so the rows for a patched range come
 * from the replacement's rows in .altinstr_replacement, moved to where they now execute.
 */
import type { LinkedLine } from '../asm/types';
import type { AppliedAlternative } from '../kernel';

export function linesAsPatched(lines: readonly LinkedLine[], alternatives: readonly AppliedAlternative[]): LinkedLine[] {
  const applied = alternatives.filter((a) => a.applied);
  if (!applied.length) return lines.filter((l) => l.isInstruction);
  const byAddress = new Map(lines.filter((l) => l.isInstruction).map((l) => [l.address, l]));
  for (const alt of applied) {
    // v5.8 alt_instr.instrlen covers the original code and its padding (padlen is inside it).
    const end = alt.instrAddress + BigInt(alt.instrlen);
    const original = byAddress.get(alt.instrAddress);
    for (const [a] of byAddress) if (a >= alt.instrAddress && a < end) byAddress.delete(a);
    // Replacement instructions, relocated to the patch site.
    for (const l of lines) {
      if (!l.isInstruction || l.address < alt.replacementAddress || l.address >= alt.replacementAddress + BigInt(alt.replacementlen)) continue;
      const at = alt.instrAddress + (l.address - alt.replacementAddress);
      byAddress.set(at, { ...l, address: at, text: `${l.text}    /* patched in at boot: ${alt.feature} */` });
    }
    // What is left of the site is NOP padding, attributed to the ALTERNATIVE line.
    const padStart = alt.instrAddress + BigInt(alt.replacementlen);
    if (padStart < end && original) {
      byAddress.set(padStart, {
        ...original,
        address: padStart,
        size: Number(end - padStart),
        text: `nop    /* padding: ${alt.feature} alternative patched in at boot (${alt.replacementlen ? 'replacement is shorter' : 'the original is removed'}) */`,
      });
    }
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
