/**
 * Source frames of one instruction: the line-table row's expansion stack, outermost first,
 * ending with the innermost line (where the instruction is written). A macro invocation is
 * shown as a frame, like an inlined function in a compiled-code debugger.
 */
import type { LinkedLine, SourceLoc } from '../asm/types';

export interface SourceFrame {
  /** Name shown in CALL STACK: the macro's name, or the enclosing symbol for the outermost level. */
  name: string;
  loc: SourceLoc;
  kind: 'code' | 'as-macro' | 'cpp-macro' | 'repeat' | 'include';
}

/** Frames outermost first. frames[i] for i < stack.length is the invocation site of the i-th expansion. */
export function sourceFrames(line: LinkedLine, enclosingSymbol: string): SourceFrame[] {
  const frames: SourceFrame[] = [];
  const stack = line.stack.filter((f) => f.kind !== 'include');
  for (let i = 0; i < stack.length; i++) {
    // The frame at level i is where the (i)th expansion was invoked; it lives in the body of level i-1.
    const name = i === 0 ? enclosingSymbol : stack[i - 1].name;
    frames.push({ name, loc: stack[i].loc, kind: i === 0 ? 'code' : stack[i - 1].kind as SourceFrame['kind'] });
  }
  const innermostName = stack.length === 0 ? enclosingSymbol : stack[stack.length - 1].name;
  frames.push({ name: innermostName, loc: line.loc, kind: stack.length === 0 ? 'code' : stack[stack.length - 1].kind as SourceFrame['kind'] });
  return frames;
}

export function sameLoc(a: SourceLoc, b: SourceLoc): boolean {
  return a.line === b.line && a.file === b.file;
}

/** True when the first `depth` frames of a and b are at the same source lines. */
export function samePrefix(a: SourceFrame[], b: SourceFrame[], depth: number): boolean {
  if (a.length < depth || b.length < depth) return false;
  for (let i = 0; i < depth; i++) if (!sameLoc(a[i].loc, b[i].loc)) return false;
  return true;
}
