/**
 * Hover text for a line of a kernel .S file, as Markdown, in the order a reader wants it:
 * what the hovered name is worth, the annotation above the line, what notes say about it, what
 * the instruction does, and what the macro on the line expands to.
 */
import type { LineEntry, ObjectImage } from '../emulator/asm/types';
import { lookupInstruction } from '../emulator/docs/instructions';
import { formatValue, lookupNamedValue } from '../emulator/docs/named-values';
import { lookupRegister } from '../emulator/docs/registers';
import { noteCommentsFor, type NoteAlignment } from './annotations';
import { commentMarkdownFor } from './comments';
import { findSymbolDefinition, wordAt } from './definitions';
import { evaluateExpression, type Defines } from './inactive';
import { includeClosure, includeLines, type IncludeContext } from './includes';
import { collectDefinesOf, sourceLinesOf } from './text-index';
import * as path from 'path';

export interface HoverContext extends IncludeContext {
  /** Note alignments for this document (alignNotes). */
  notes?: readonly NoteAlignment[];
  /** The document's last assembly, for macro expansions and symbol values. */
  image?: ObjectImage;
  /** Values known from the kernel profile (asm-offsets, per-CPU offsets, config ...). */
  values?: ReadonlyMap<string, KnownValue>;
  /** The document's lines after the C preprocessor, by 1-based line (from emulator/asm/preprocess). */
  preprocessed?: ReadonlyMap<number, string>;
  /** Defines given on the command line (-D), used to evaluate #define values. */
  defines?: Readonly<Record<string, string>>;
  /** What a booted kernel runs at the ALTERNATIVE sites a 1-based line emitted (alternatives.ts), as Markdown. */
  alternatives?: (line: number) => string | undefined;
  /** The file is being assembled: the parts that need the assembly are not here yet, and the hover says so. */
  assembling?: boolean;
}

/** Where the expansion, the line after cpp and the boot-time alternatives will be once the assembly is in. */
export const ASSEMBLING_NOTE = '*(assembling… the macro expansion, the line after the preprocessor and what a booted kernel runs here appear once the file is assembled)*';

export interface KnownValue {
  value: string;
  meaning?: string;
}

const fence = (code: string, lang = 'asm'): string => '```' + lang + '\n' + code + '\n```';

/** Markdown for a hover at a 0-based line/character, or undefined when there is nothing to say. */
export function hoverMarkdown(ctx: HoverContext, file: string, text: string, line: number, character: number): string | undefined {
  const lines = sourceLinesOf(text);
  const here = lines[line];
  if (!here) return undefined;
  const sections: string[] = [];

  const mnemonic = firstToken(here.code);
  const inComment = here.comments.find((c) => character >= c.start && character < c.end);
  if (inComment) {
    // In prose only the machine's own names are worth a hover (MSR_GS_BASE in the seed's fence, %cr3, TSS_sp1).
    const w = wordAt(here.raw, character);
    const known = w && (w.word.startsWith('%') || lookupNamedValue(w.word) || ctx.values?.has(w.word));
    const about = known ? describeWord(ctx, file, text, w.word, line) : undefined;
    if (about) sections.push(about);
  } else {
    const w = wordAt(here.code, character);
    // On the mnemonic itself the instruction section below says it all; a macro name gets its definition.
    if (w && !(w.word === mnemonic?.word && lookupInstruction(w.word))) {
      const about = describeWord(ctx, file, text, w.word, line);
      if (about) sections.push(about);
    }
  }

  const { above, trailing } = commentMarkdownFor(lines, line);
  if (above) sections.push(above);
  if (trailing) sections.push(trailing);

  for (const n of noteCommentsFor(ctx.notes ?? [], line)) {
    if (n.markdown === above || n.markdown === [above, trailing].filter(Boolean).join('\n\n')) continue;
    sections.push(`*Note (${path.posix.basename(n.notePath)}:${n.noteLine}):*\n\n${n.markdown}`);
  }

  if (mnemonic && here.kind === 'code') {
    const doc = instructionMarkdown(mnemonic.word, here.code);
    if (doc) sections.push(doc);
  }

  // A statement continued with a trailing backslash is one line to cpp and the line table: its first.
  let stmt = line;
  while (stmt > 0 && /\\\s*$/.test(lines[stmt - 1].code)) stmt--;
  const afterCpp = ctx.preprocessed?.get(stmt + 1);
  if (afterCpp !== undefined && here.kind === 'code' && squash(afterCpp) !== squash(lines[stmt].code)) {
    sections.push(`**After the preprocessor:**\n\n${fence(afterCpp.split(' ; ').join('\n'))}`);
  }

  const expansion = expansionMarkdown(ctx.image, file, stmt + 1);
  if (expansion) sections.push(expansion);

  const boot = ctx.alternatives?.(stmt + 1);
  if (boot) sections.push(boot);

  if (ctx.assembling && here.kind === 'code') sections.push(ASSEMBLING_NOTE);

  return sections.length ? sections.join('\n\n---\n\n') : undefined;
}

const squash = (s: string): string => s.replace(/\s+/g, '');

/** The statement's first token, skipping a `label:` prefix: the mnemonic, directive or macro name. */
function firstToken(code: string): { word: string; start: number } | undefined {
  const m = /^(\s*(?:[\w.$]+:\s*)?)([A-Za-z_.][\w.$]*)/.exec(code);
  return m ? { word: m[2], start: m[1].length } : undefined;
}

export function instructionMarkdown(mnemonic: string, code: string): string | undefined {
  const doc = lookupInstruction(mnemonic);
  if (!doc) return undefined;
  const parts = [`**${mnemonic}**: ${doc.summary}`];
  const crMove = doc.mnemonic === 'mov' && /%cr\d/.test(code);
  if (doc.privileged && (doc.mnemonic !== 'mov' || crMove)) parts.push(doc.privileged);
  if (doc.flags) parts.push(`Flags: ${doc.flags}.`);
  return parts.join('\n\n');
}

/** What a hovered name stands for: register, fact table value, profile value, symbol, define or macro. */
export function describeWord(ctx: HoverContext, file: string, text: string, word: string, line?: number): string | undefined {
  if (word.startsWith('%')) {
    const r = lookupRegister(word);
    return r && `**%${r.name}**: ${r.doc}${r.fields ? `\n\nBits: ${r.fields.map((f) => f.name).join(' ')}` : ''}`;
  }
  if (word.startsWith('\\')) return macroParameterMarkdown(text, word.slice(1), line);
  const parts: string[] = [];
  const fact = lookupNamedValue(word);
  if (fact) parts.push(`**${word}** = \`${formatValue(fact)}\`${fact.radix === 16 ? ` (${fact.value})` : ''}\n\n${fact.meaning}`);
  const profile = ctx.values?.get(word);
  if (profile !== undefined && !fact) parts.push(`**${word}** = \`${profile.value}\`${profile.meaning ? `\n\n${profile.meaning}` : ''}`);
  const sym = ctx.image?.symbols.get(word);
  if (sym && !fact && profile === undefined) {
    parts.push(sym.section === undefined ? `**${word}** = \`0x${sym.value.toString(16)}\`` : `**${word}**: label in \`${sym.section}\`${sym.global ? ' (global)' : ''}`);
  }
  const def = findSymbolDefinition(ctx, file, text, word);
  if (def) {
    const where = `${path.posix.basename(def.file)}:${def.symbol.line + 1}`;
    if (def.symbol.kind === 'constant' && def.symbol.detail.startsWith('#')) {
      const value = defineValue(ctx, file, text, word);
      parts.push(`${fence(def.symbol.detail, 'c')}${value !== undefined && !fact && profile === undefined ? `\n\n= \`${value}\` (0x${value.toString(16)})` : ''}\n\n*${where}*`);
    } else if (def.symbol.kind !== 'label' && def.symbol.kind !== 'function') {
      parts.push(`${fence(def.symbol.detail, def.symbol.detail.startsWith('#') ? 'c' : 'asm')}\n\n*${def.symbol.kind} at ${where}*`);
    } else if (!sym) {
      parts.push(`**${word}**: ${def.symbol.kind === 'function' ? 'code' : 'label'} at ${where}`);
    }
  }
  return parts.length ? parts.join('\n\n') : undefined;
}

/** `\\reg` inside a .macro body: the parameter and its default from the `.macro` line. */
function macroParameterMarkdown(text: string, name: string, line?: number): string | undefined {
  if (name === '@') return '`\\@`: the number of macro expansions so far; makes labels unique per expansion.';
  const lines = sourceLinesOf(text);
  const def = lines.slice(0, (line ?? lines.length) + 1).reverse().find((l) => new RegExp(`^\\s*\\.macro\\s+[\\w.$]+.*[\\s,]${name}\\b`).test(l.code));
  if (!def) return undefined;
  const param = new RegExp(`[\\s,]${name}\\s*(?::(req|vararg))?(?:\\s*=\\s*([^\\s,]+))?`).exec(def.code);
  const macro = /\.macro\s+([\w.$]+)/.exec(def.code)![1];
  const how = param?.[1] === 'req' ? 'required' : param?.[2] !== undefined ? `default \`${param[2]}\`` : 'no default (empty)';
  return `**\\${name}**: parameter of \`.macro ${macro}\`, ${how}.`;
}

function defineValue(ctx: HoverContext, file: string, text: string, word: string): bigint | undefined {
  const fromHeaders = (): Defines => {
    const defines: Defines = new Map(Object.entries(ctx.defines ?? {}));
    for (const inc of includeClosure(ctx, file, text)) collectDefinesOf(ctx.fs.readFile(inc) ?? '', defines);
    return defines;
  };
  const memo = ctx.memo;
  // The headers' part stays while the #include lines do; the file's own #defines go on top per version.
  const defines = memo
    ? memo.derive(`defines:${file}`, text, () => collectDefinesOf(text, new Map(memo.derive(`header-defines:${file}`, includeLines(text), fromHeaders))))
    : collectDefinesOf(text, fromHeaders());
  const body = defines.get(word);
  return body === undefined ? undefined : evaluateExpression(body, defines);
}

/**
 * The instructions a macro on `file:line` (1-based) expanded to: every line-table entry whose
 * outermost frame is that line. A plain instruction (no expansion) shows nothing.
 */
export function expansionMarkdown(image: ObjectImage | undefined, file: string, line: number): string | undefined {
  if (!image) return undefined;
  const rows = image.lines.filter((e) => {
    const outer = e.stack.length ? e.stack[0].loc : e.loc;
    return outer.file === file && outer.line === line && e.stack.length > 0;
  });
  if (!rows.length) return undefined;
  // ALTERNATIVE-style macros also emit into .altinstructions / .altinstr_replacement: show the code
  // that sits in place first (not an .alt* section, most instructions), then the others, labelled.
  const bySection = new Map<string, LineEntry[]>();
  for (const e of rows) bySection.set(e.section, [...(bySection.get(e.section) ?? []), e]);
  const instructions = (es: LineEntry[]): number => es.filter((e) => e.isInstruction).length;
  const isAlt = (section: string): number => (section.startsWith('.alt') ? 1 : 0);
  const groups = [...bySection.entries()].sort((a, b) => isAlt(a[0]) - isAlt(b[0]) || instructions(b[1]) - instructions(a[1]));
  const body = groups
    .map(([section, es], i) => {
      const text = [...es].sort((a, b) => a.offset - b.offset).map((e) => `\t${e.text}`).join('\n');
      return i === 0 ? text : `# in ${section}:\n${text}`;
    })
    .join('\n');
  const macro = rows[0].stack[0].name;
  return `**Expands to** (${macro}, ${rows.length} statement${rows.length === 1 ? '' : 's'}):\n\n${fence(body)}`;
}
