/**
 * The assembler's entry point: C preprocessor, then GNU as (AT&T x86-64), producing an
 * ObjectImage with gas-identical bytes, relocations and a line table; `link` places objects.
 */
import type { AssembleOptions, ObjectImage } from './types';
import { preprocess } from './preprocess';
import { Assembler } from './assembler';

export * from './types';
export { link } from './link';
export { preprocess, expandText, defineMacro } from './preprocess';
export type { CppMacro, PreprocessedLine, PreprocessOptions, PreprocessResult } from './preprocess';
export { displaySymbol } from './assembler';

/** Preprocess and assemble one .S file. Never throws on bad input: see `diagnostics`. */
export function assemble(opts: AssembleOptions): ObjectImage {
  const pp = preprocess(opts);
  const asm = new Assembler({
    lines: pp.lines.map((l) => ({ text: l.text, loc: l.loc })),
    fs: opts.fs,
    includeDirs: opts.includeDirs ?? [],
  });
  let obj: ObjectImage;
  try {
    obj = asm.run();
  } catch (e) {
    // A bug in the assembler must not take the debugger down: report it at the main file.
    return {
      sections: new Map(),
      symbols: new Map(),
      relocations: [],
      lines: [],
      diagnostics: [...pp.diagnostics, { severity: 'error', message: `internal assembler error: ${(e as Error).message}`, loc: { file: opts.file, line: 1 }, stack: [] }],
      files: pp.files,
    };
  }
  return { ...obj, diagnostics: [...pp.diagnostics, ...obj.diagnostics], files: [...pp.files, ...obj.files.filter((f) => !pp.files.includes(f))] };
}
