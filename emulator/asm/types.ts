/**
 * The assembler's output: a relocatable object (sections, symbols, relocations) plus a
 * line table that keeps, for every emitted instruction or datum, the source line and the
 * stack of macro invocations / includes it came from. The linker turns it into a LinkedImage.
 */
import type { FileAccess } from '../host';

/** A position in a source file. Lines are 1-based. */
export interface SourceLoc {
  file: string;
  line: number;
}

/**
 * One level of "how did we get here": a C-preprocessor macro use, a GNU as `.macro`
 * invocation, a `.irp`/`.rept` iteration or an #include. Outermost first in a stack.
 */
export interface ExpansionFrame {
  kind: 'include' | 'cpp-macro' | 'as-macro' | 'repeat';
  /** Macro name, or the included file's path. */
  name: string;
  /** Where the macro was invoked / the #include line. */
  loc: SourceLoc;
}

export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  loc: SourceLoc;
  /** Expansion chain, outermost first; empty for a line written directly in the file. */
  stack: ExpansionFrame[];
}

export interface Section {
  name: string;
  /** GNU as section flags string, e.g. "ax", "a", "aw". */
  flags: string;
  bytes: Uint8Array;
  align: number;
}

export interface SymbolDef {
  name: string;
  /** Section the value is relative to; undefined for absolute symbols (`.set`, `=`). */
  section: string | undefined;
  value: bigint;
  global: boolean;
  type?: 'function' | 'object' | 'notype';
  size?: number;
  loc?: SourceLoc;
}

/** x86-64 ELF relocation kinds we produce (names as in the psABI). */
export type RelocationKind = 'R_X86_64_64' | 'R_X86_64_32' | 'R_X86_64_32S' | 'R_X86_64_PC32' | 'R_X86_64_PLT32' | 'R_X86_64_16' | 'R_X86_64_8' | 'R_X86_64_PC8';

export interface Relocation {
  section: string;
  offset: number;
  kind: RelocationKind;
  /** Symbol name; for section-relative references, the section name. */
  symbol: string;
  addend: bigint;
}

/** A line-table row: bytes [offset, offset+size) of `section` came from `loc`. */
export interface LineEntry {
  section: string;
  offset: number;
  size: number;
  loc: SourceLoc;
  /** Expansion chain, outermost first (the user's line is stack[0].loc when non-empty). */
  stack: ExpansionFrame[];
  /** The statement as assembled after macro substitution, e.g. "movq %rsp, %gs:0x6014". */
  text: string;
  /** True for instructions, false for data directives. */
  isInstruction: boolean;
}

export interface ObjectImage {
  sections: Map<string, Section>;
  symbols: Map<string, SymbolDef>;
  relocations: Relocation[];
  lines: LineEntry[];
  diagnostics: Diagnostic[];
  /** Every file read while assembling (for watching / hover). */
  files: string[];
}

export interface AssembleOptions {
  /** Absolute path of the main .S file. */
  file: string;
  fs: FileAccess;
  /** -I directories, searched in order. */
  includeDirs?: string[];
  /** -D definitions (value '' means defined empty, '1' for plain -DFOO). */
  defines?: Record<string, string>;
  /** Files to #include before the main file (gcc's -include). */
  preIncludes?: string[];
}

/** A placed section: the linker's view. */
export interface Segment {
  name: string;
  address: bigint;
  bytes: Uint8Array;
  flags: string;
}

export interface LinkedLine extends LineEntry {
  address: bigint;
}

export interface LinkedImage {
  segments: Segment[];
  /** Every symbol's final address (absolute symbols as their value). */
  symbols: Map<string, bigint>;
  /** Sorted by address. */
  lines: LinkedLine[];
  diagnostics: Diagnostic[];
}

export interface LinkLayout {
  /** Base address of each section by name; sections not listed follow the previous one, aligned. */
  sectionBases: Record<string, bigint>;
  /** Where sections not named in sectionBases start if nothing precedes them. */
  defaultBase?: bigint;
  /**
   * Least alignment of a section placed after the previous one. A user program passes the page
   * size, as GNU ld does for an executable's segments (-z separate-code): code and data never
   * share a page, so code pages stay read-only and data pages non-executable.
   */
  sectionAlign?: number;
  /** Addresses of symbols the object leaves undefined (kernel functions, per-CPU variables). */
  externs: Map<string, bigint>;
}
