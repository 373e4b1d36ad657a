/** The assembler the server runs for diagnostics and macro expansions (injected into Analyzer for tests). */
import { assemble } from '../emulator/asm';
import type { AssembleOptions, ObjectImage } from '../emulator/asm/types';

export type AssembleFn = (opts: AssembleOptions) => ObjectImage;

export function loadAssembler(): AssembleFn {
  return assemble;
}
