/**
 * The assembler the server runs for diagnostics and macro expansions, loaded when present so the
 * language server keeps its comment/instruction hovers even in a build without it.
 */
import type { AssembleOptions, ObjectImage } from '../emulator/asm/types';

export type AssembleFn = (opts: AssembleOptions) => ObjectImage;

let cached: AssembleFn | null | undefined;

/** emulator/asm's `assemble`, or undefined when this build has no assembler. */
export function loadAssembler(): AssembleFn | undefined {
  if (cached === undefined) {
    try {
      const mod = require('../emulator/asm') as { assemble?: AssembleFn };
      cached = typeof mod.assemble === 'function' ? mod.assemble : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
