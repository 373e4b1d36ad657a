/**
 * Everything the server knows about one document version, computed from text + FileAccess:
 * the assembly (diagnostics, expansions), the note alignments and the inactive regions.
 * No LSP types here: server.ts translates.
 */
import type { FileAccess } from '../emulator/host';
import type { ObjectImage } from '../emulator/asm/types';
import { preprocess } from '../emulator/asm/preprocess';
import { detectRealTree } from '../emulator/kernel/real-tree';
import { alignNotes, type NoteAlignment } from './annotations';
import { findDefinition, findSymbolDefinition, wordAt, type Location } from './definitions';
import { diagnosticsForFile, type FileDiagnostic } from './diagnostics';
import type { AssemblyResult } from './assembly-job';
import type { AssembleFn } from './engine';
import { hoverMarkdown, type HoverContext, type KnownValue } from './hover';
import { inactiveRegions, type Defines, type LineRange } from './inactive';
import { collectDefinesOf } from './text-index';
import { includeClosure, includeClosureSteps, IncludeMemo, type IncludeContext } from './includes';
import { generatedHeaderText, kernelBuildFor, type BuildSettings } from './kernel-context';
import type { KentryServerOptions } from './protocol';
import { IN_MEMORY_TREE_DIR, inMemoryTreePath, isGeneratedPath } from './generated-uris';
import type { AppliedAlternative } from '../emulator/kernel/alternatives';
import { alternativesAt, alternativesMarkdown, bootAlternatives, DEFAULT_CPU } from './alternatives';

export interface DocumentState {
  file: string;
  version: number;
  text: string;
  image?: ObjectImage;
  notes: NoteAlignment[];
  /** Lines of this file after cpp (1-based line -> text), computed on first hover. */
  preprocessed?: Map<number, string>;
  /** The ALTERNATIVE records of `image` decided for the configured CPU, computed on first hover. */
  alternatives?: AppliedAlternative[];
  /** Set while a worker assembles this version: hovers answer without waiting and say so. */
  assembling?: boolean;
  /** Set when the assembly of this version waits for the end of a typing pause: hovers do not assemble either. */
  scheduled?: boolean;
  /** This version was assembled (image and diagnostics are final, even when it failed). */
  assembled?: boolean;
}

/** One file's build settings, reused while the file's text is the same (kernelBuild reads and parses a tree's headers). */
interface CachedBuild {
  /** The file's text the build was made for (undefined when the build does not depend on it). */
  text: string | undefined;
  /** A real tree's file (built by the tree's rules) or plain options: the file's text does not matter. */
  textIndependent: boolean;
  settings: BuildSettings;
  /** Include closures and #define tables of this build (what a hover looks names up in). */
  memo: IncludeMemo;
  /** The profile's values plus the `values` option: what the hovered name is worth. */
  values: Map<string, KnownValue>;
}

export class Analyzer {
  private readonly docs = new Map<string, DocumentState>();
  private readonly builds = new Map<string, CachedBuild>();
  /** In-memory headers of unbuilt real trees a definition pointed to (virtual path -> the build's FileAccess). */
  private readonly inMemoryHeaders = new Map<string, FileAccess>();

  constructor(
    private readonly fs: FileAccess,
    private options: KentryServerOptions,
    private readonly assemble: AssembleFn | undefined,
  ) {}

  setOptions(options: KentryServerOptions): void {
    this.options = options;
    this.docs.clear();
    this.builds.clear();
  }

  /** Files on disk may have changed (a save, a newly opened file): build settings are made again on next use. */
  refresh(): void {
    this.builds.clear();
  }

  /** An open document's text changed: builds whose include closures hold it are stale (its own state is per version). */
  documentChanged(file: string): void {
    for (const b of this.builds.values()) {
      if (b.memo.files.has(file)) {
        this.builds.clear();
        return;
      }
    }
  }

  /** How `file` is built: the kernel profile's way when configured, else the plain options. */
  build(file: string): BuildSettings {
    return this.cachedBuild(file).settings;
  }

  private cachedBuild(file: string): CachedBuild {
    const hit = this.builds.get(file);
    // Typing in a real tree's file (or without a kernel profile) keeps the build.
    if (hit?.textIndependent) return hit;
    // Otherwise the file's own text decides some of it (an excerpt without #include gets kentry's prelude).
    const text = this.fs.readFile(file);
    if (hit && hit.text === text) return hit;
    const settings = this.computeBuild(file);
    const values = new Map([...settings.values, ...Object.entries(this.options.values ?? {}).map(([k, value]): [string, KnownValue] => [k, { value }])]);
    const textIndependent = this.options.kernel === undefined || detectRealTree(file, this.fs) !== undefined;
    const entry: CachedBuild = { text: textIndependent ? undefined : text, textIndependent, settings, memo: new IncludeMemo(), values };
    this.builds.set(file, entry);
    return entry;
  }

  private computeBuild(file: string): BuildSettings {
    const k = this.options.kernel;
    const fromKernel = k ? kernelBuildFor(file, this.fs, k) : undefined;
    return fromKernel ?? {
      fs: this.fs,
      includeDirs: this.options.includeDirs ?? [],
      defines: this.options.defines ?? {},
      preIncludes: this.options.preIncludes ?? [],
      values: new Map(),
      siblings: [],
    };
  }

  includeContext(file: string): IncludeContext {
    const { settings: b, memo } = this.cachedBuild(file);
    return { fs: b.fs, includeDirs: b.includeDirs, preIncludes: b.preIncludes, memo };
  }

  /** The state for this version, computing the note alignment on first use. */
  state(file: string, version: number, text: string): DocumentState {
    const old = this.docs.get(file);
    if (old && old.version === version && old.text === text) return old;
    const notes = (this.options.annotationNotes ?? []).flatMap((p) => {
      const t = this.fs.readFile(p);
      return t === undefined ? [] : [{ path: p, text: t }];
    });
    const s: DocumentState = { file, version, text, notes: alignNotes(notes, text) };
    this.docs.set(file, s);
    return s;
  }

  /** The kept state when it is this version, else a state of its own that replaces nothing (an older version's late job). */
  stateFor(file: string, version: number, text: string): DocumentState {
    const kept = this.docs.get(file);
    return kept && kept.version === version && kept.text === text ? kept : { file, version, text, notes: [] };
  }

  /** The state kept for `file` (undefined once forgotten or after an options change). */
  current(file: string): DocumentState | undefined {
    return this.docs.get(file);
  }

  forget(file: string): void {
    this.docs.delete(file);
  }

  /** Assembles the document (the slow part: call debounced). Bad input becomes diagnostics, never a throw. */
  assembleDocument(s: DocumentState): FileDiagnostic[] {
    if (!this.assemble) return [];
    const b = this.build(s.file);
    s.assembled = true;
    try {
      s.alternatives = undefined;
      s.image = this.assemble({ file: s.file, fs: b.fs, includeDirs: b.includeDirs, defines: b.defines, preIncludes: b.preIncludes });
      return diagnosticsForFile(s.image.diagnostics, s.file);
    } catch (e) {
      return [{ line: 0, severity: 'error', message: `assembler failed: ${e instanceof Error ? e.message : String(e)}` }];
    }
  }

  /** Everything slow about this version at once, as plain data (what the assembly worker runs). */
  analyse(s: DocumentState): AssemblyResult {
    const diagnostics = this.assembleDocument(s);
    const preprocessed = this.preprocessed(s);
    const alternatives = this.bootAlternatives(s, this.build(s.file), this.cpu());
    return { file: s.file, version: s.version, diagnostics, image: s.image, preprocessed: [...preprocessed], alternatives };
  }

  /** Takes what analyse() computed elsewhere (a worker) for this very version. */
  adopt(s: DocumentState, r: AssemblyResult): void {
    s.image = r.image;
    s.preprocessed = new Map(r.preprocessed);
    s.alternatives = r.alternatives;
    s.assembling = false;
    s.assembled = true;
  }

  private cpu(): string {
    return this.options.kernel?.cpu ?? DEFAULT_CPU;
  }

  /** The file's own lines after the C preprocessor; empty when it cannot be preprocessed. */
  preprocessed(s: DocumentState): Map<number, string> {
    if (s.preprocessed) return s.preprocessed;
    const b = this.build(s.file);
    const out = new Map<number, string>();
    try {
      const r = preprocess({ file: s.file, fs: b.fs, includeDirs: b.includeDirs, defines: b.defines, preIncludes: b.preIncludes });
      for (const l of r.lines) if (l.loc.file === s.file && l.includeStack.length === 0) out.set(l.loc.line, l.text);
    } catch {
      // A preprocessor failure only costs the "after the preprocessor" hover section.
    }
    s.preprocessed = out;
    return out;
  }

  /**
   * Go to definition: the file and what it includes first, then the files linked with it (the
   * return path defines swapgs_restore_regs_and_return_to_usermode), then the assembler's symbol table.
   */
  definition(file: string, text: string, line: number, character: number): Location | undefined {
    const ctx = this.includeContext(file);
    const found = findDefinition(ctx, file, text, line, character);
    if (found && !isGeneratedPath(found.file) && this.fs.readFile(found.file) === undefined && ctx.fs.readFile(found.file) !== undefined) {
      // An unbuilt tree's generated header (asm-offsets.h ...): only the build's FileAccess has it.
      const virtual = inMemoryTreePath(found.file);
      this.inMemoryHeaders.set(virtual, ctx.fs);
      return { ...found, file: virtual };
    }
    if (found) return found;
    const w = wordAt(text.split(/\r?\n/)[line] ?? '', character);
    if (!w || /^[%\\]/.test(w.word)) return undefined;
    for (const sibling of this.build(file).siblings) {
      const hit = findSymbolDefinition(ctx, sibling, ctx.fs.readFile(sibling) ?? '', w.word);
      if (hit) return { file: hit.file, line: hit.symbol.line, column: hit.symbol.column };
    }
    const loc = this.docs.get(file)?.image?.symbols.get(w.word)?.loc;
    return loc && { file: loc.file, line: loc.line - 1, column: 0 };
  }

  /** A generated header's text for the configured kernel; undefined without a kernel profile. */
  generatedHeader(file: string): string | undefined {
    if (file.startsWith(`${IN_MEMORY_TREE_DIR}/`)) return this.inMemoryHeaders.get(file)?.readFile(file.slice(IN_MEMORY_TREE_DIR.length));
    const k = this.options.kernel;
    return k ? generatedHeaderText(k, file) : undefined;
  }

  /**
   * The lookups a hover makes for this document (kernelBuild, the include closure, each header's
   * definitions), done ahead in small steps: the server runs one step per turn of its event loop,
   * so a hover that arrives meanwhile is answered between two steps instead of after all of them.
   */
  *prepareSteps(s: DocumentState): Generator<void, void, void> {
    const ctx = this.includeContext(s.file);
    yield;
    const closure = yield* includeClosureSteps(ctx, s.file, s.text);
    for (const inc of closure) {
      collectDefinesOf(ctx.fs.readFile(inc) ?? '', new Map());
      yield;
    }
  }

  inactive(s: DocumentState): LineRange[] {
    const ctx = this.includeContext(s.file);
    const b = this.build(s.file);
    const defines: Defines = new Map(Object.entries(b.defines));
    for (const inc of includeClosure(ctx, s.file, s.text)) collectDefinesOf(b.fs.readFile(inc) ?? '', defines);
    return inactiveRegions(s.text, defines);
  }

  /** The document's ALTERNATIVE sites as a booted kernel patches them; none without a kernel profile or an image. */
  private bootAlternatives(s: DocumentState, b: BuildSettings, cpu: string): AppliedAlternative[] {
    if (!s.alternatives) {
      try {
        s.alternatives = s.image && b.profile && b.config ? bootAlternatives(s.image, b.profile, b.config, cpu) ?? [] : [];
      } catch {
        s.alternatives = []; // A document the linker cannot place only loses this hover section.
      }
    }
    return s.alternatives;
  }

  hover(s: DocumentState, line: number, character: number): string | undefined {
    // Expansions need this version's line table. While a worker assembles it the hover answers with
    // what needs no assembly; without a worker, a hover that comes first assembles now.
    const waiting = !s.assembled && (s.assembling === true || s.scheduled === true);
    if (!s.assembled && !waiting) this.assembleDocument(s);
    const { settings: b, memo, values } = this.cachedBuild(s.file);
    const ctx: HoverContext = {
      fs: b.fs,
      includeDirs: b.includeDirs,
      preIncludes: b.preIncludes,
      memo,
      notes: s.notes,
      image: s.image,
      values,
      defines: b.defines,
      preprocessed: waiting ? undefined : this.preprocessed(s),
      assembling: waiting,
      alternatives: waiting ? undefined : (line) => {
        const cpu = this.cpu();
        return alternativesMarkdown(alternativesAt(this.bootAlternatives(s, b, cpu), s.file, line), cpu);
      },
    };
    return hoverMarkdown(ctx, s.file, s.text, line, character);
  }
}
