/**
 * The C preprocessor as gcc runs it on kernel .S files (gcc -E -D__ASSEMBLY__): includes,
 * object- and function-like macros with #, ## and __VA_ARGS__, conditionals and #error.
 * Each output line keeps the file:line where it was written and the #include chain, so the
 * assembler can point diagnostics and the line table at the user's source.
 */
import type { FileAccess } from '../host';
import type { Diagnostic, ExpansionFrame, SourceLoc } from './types';
import { dirname, joinPath } from './paths';
import { type CppTok, printTokens, tokenize } from './cpp-tokens';

export interface PreprocessedLine {
  text: string;
  loc: SourceLoc;
  /** #include chain, outermost first (empty for lines of the main file). */
  includeStack: ExpansionFrame[];
}

export interface CppMacro {
  name: string;
  /** Parameter names of a function-like macro; undefined for object-like. */
  params?: string[];
  variadic: boolean;
  /** Replacement text as written. */
  body: string;
  /** Where it was defined; undefined for -D and built-ins. */
  loc?: SourceLoc;
  bodyTokens: CppTok[];
}

export interface PreprocessOptions {
  file: string;
  fs: FileAccess;
  includeDirs?: string[];
  defines?: Record<string, string>;
  preIncludes?: string[];
}

export interface PreprocessResult {
  lines: PreprocessedLine[];
  diagnostics: Diagnostic[];
  /** The macro table at the end of the file (for hover: a #define's value and expansion). */
  defines: Map<string, CppMacro>;
  /** Every file read. */
  files: string[];
}

const MAX_INCLUDE_DEPTH = 64;
/**
 * #includes done in one run: a file that includes itself twice branches at every level, so the
 * depth limit alone leaves 2^64 inclusions (found by fuzzing the language server). A real
 * entry_64.S does a few hundred.
 */
const MAX_INCLUDES = 10_000;
/** Built-ins gcc defines when assembling for x86-64 Linux. */
const PREDEFINED: Record<string, string> = {
  __ASSEMBLER__: '1',
  __ASSEMBLY__: '1',
  __x86_64__: '1',
  __x86_64: '1',
  __linux__: '1',
  __LP64__: '1',
  __GNUC__: '12',
};

export function preprocess(opts: PreprocessOptions): PreprocessResult {
  const pp = new Preprocessor(opts);
  try {
    return pp.run();
  } catch (e) {
    // A bug here must not take the editor or debugger down: report it at the main file.
    return {
      lines: [],
      diagnostics: [{ severity: 'error', message: `internal preprocessor error: ${(e as Error).message}`, loc: { file: opts.file, line: 1 }, stack: [] }],
      defines: pp.macros,
      files: [],
    };
  }
}

/** Make a macro from "NAME(params) body"-style pieces (for -D and the language server). */
export function defineMacro(name: string, body: string, params?: string[], variadic = false, loc?: SourceLoc): CppMacro {
  return { name, params, variadic, body, loc, bodyTokens: tokenize(body) };
}

/** Expand macros in one line of text with a given table (hover "expansion" preview). */
export function expandText(text: string, defines: Map<string, CppMacro>): string {
  const pp = new Preprocessor({ file: '/', fs: { readFile: () => undefined } });
  pp.macros = defines;
  return printTokens(pp.expand(tokenize(text), { file: '<hover>', line: 1 }) ?? []);
}

interface LogicalLine {
  text: string;
  line: number;
}

/** Logical lines and include guard of files already seen, by path (checked against the text). */
const SPLIT_CACHE = new Map<string, { text: string; lines: LogicalLine[]; guard: string | undefined }>();
const SPLIT_CACHE_LIMIT = 2000;

interface CondState {
  /** This group's lines are kept. */
  active: boolean;
  /** Some branch of this #if chain was taken already. */
  taken: boolean;
  /** The enclosing group is active. */
  parentActive: boolean;
  sawElse: boolean;
}

class Preprocessor {
  macros = new Map<string, CppMacro>();
  private lines: PreprocessedLine[] = [];
  private diags: Diagnostic[] = [];
  private files: string[] = [];
  private onceFiles = new Set<string>();
  private includeStack: ExpansionFrame[] = [];
  /** Inclusions left before MAX_INCLUDES stops them (reported once). */
  private includesLeft = MAX_INCLUDES;
  private includeFiles: string[] = [];

  constructor(private opts: PreprocessOptions) {}

  run(): PreprocessResult {
    for (const [k, v] of Object.entries(PREDEFINED)) this.macros.set(k, defineMacro(k, v));
    for (const [k, v] of Object.entries(this.opts.defines ?? {})) {
      const m = /^([A-Za-z_]\w*)\(([^)]*)\)$/.exec(k);
      if (m) {
        const ps = m[2].split(',').map((s) => s.trim()).filter((s) => s !== '');
        const variadic = ps.length > 0 && ps[ps.length - 1] === '...';
        if (variadic) ps[ps.length - 1] = '__VA_ARGS__';
        this.macros.set(m[1], defineMacro(m[1], v, ps, variadic));
      } else this.macros.set(k, defineMacro(k, v));
    }
    const cmdLoc: SourceLoc = { file: this.opts.file, line: 1 };
    for (const inc of this.opts.preIncludes ?? []) {
      const path = inc.startsWith('/') ? inc : this.findInclude(inc, dirname(this.opts.file), true);
      if (!path) this.error(`cannot find -include file ${inc}`, cmdLoc);
      else this.includeFile(path, cmdLoc);
    }
    const text = this.read(this.opts.file);
    if (text === undefined) this.error(`cannot read ${this.opts.file}`, cmdLoc);
    else this.processFile(this.opts.file, text);
    return { lines: this.lines, diagnostics: this.diags, defines: this.macros, files: this.files };
  }

  /** File texts by path (undefined: no such file): include searches probe many paths. */
  private textCache = new Map<string, string | undefined>();
  private linesCache = new Map<string, LogicalLine[]>();
  /** Include-guard macro of each file whose whole text is inside #ifndef GUARD ... #endif. */
  private guards = new Map<string, string | undefined>();
  /** The include stack as handed to output lines (copied only when it changes). */
  private stackSnapshot: ExpansionFrame[] = [];

  private readCached(path: string): string | undefined {
    if (this.textCache.has(path)) return this.textCache.get(path);
    const t = this.opts.fs.readFile(path);
    this.textCache.set(path, t);
    return t;
  }

  private read(path: string): string | undefined {
    const t = this.readCached(path);
    if (t !== undefined && !this.files.includes(path)) this.files.push(path);
    return t;
  }

  private error(message: string, loc: SourceLoc, severity: 'error' | 'warning' = 'error'): void {
    this.diags.push({ severity, message, loc, stack: [...this.includeStack] });
  }

  private findInclude(name: string, curDir: string, quoted: boolean): string | undefined {
    const dirs = [...(quoted ? [curDir] : []), ...(this.opts.includeDirs ?? [])];
    for (const d of dirs) {
      const p = joinPath(d, name);
      if (this.readCached(p) !== undefined) return p;
    }
    return undefined;
  }

  private includeFile(path: string, at: SourceLoc): void {
    if (this.onceFiles.has(path)) return;
    const guard = this.guards.get(path);
    if (guard !== undefined && this.macros.has(guard)) return; // gcc's multiple-include optimisation
    if (this.includeStack.length >= MAX_INCLUDE_DEPTH) {
      const cycle = this.includeFiles.includes(path);
      this.error(`#include nested more than ${MAX_INCLUDE_DEPTH} deep${cycle ? ` (include cycle through ${path})` : ''}`, at);
      return;
    }
    const text = this.read(path);
    if (text === undefined) {
      this.error(`cannot read ${path}`, at);
      return;
    }
    if (this.includesLeft <= 0) return;
    if (--this.includesLeft === 0) {
      this.error(`more than ${MAX_INCLUDES} #includes in all (include cycle through ${path}?): the rest are left out`, at);
      return;
    }
    this.includeStack.push({ kind: 'include', name: path, loc: at });
    this.stackSnapshot = [...this.includeStack];
    this.includeFiles.push(path);
    this.processFile(path, text);
    this.includeStack.pop();
    this.stackSnapshot = [...this.includeStack];
    this.includeFiles.pop();
  }

  /** Splice `\`-newlines and strip comments, keeping one entry per logical line with its first line number. */
  private logicalLines(text: string): LogicalLine[] {
    const phys = text.split('\n');
    const out: LogicalLine[] = [];
    let inBlock = false;
    for (let i = 0; i < phys.length; i++) {
      const first = i;
      let raw = phys[i];
      if (raw.endsWith('\r')) raw = raw.slice(0, -1);
      while (raw.endsWith('\\') && i + 1 < phys.length) {
        let next = phys[++i];
        if (next.endsWith('\r')) next = next.slice(0, -1);
        raw = raw.slice(0, -1) + next;
      }
      // Strip comments; a block comment left open continues on the next logical line.
      if (!inBlock && !raw.includes('/') && !raw.includes('"') && !raw.includes("'")) {
        out.push({ text: raw, line: first + 1 });
        for (let k = first + 1; k <= i; k++) out.push({ text: '', line: k + 1 });
        continue;
      }
      let res = '';
      let j = 0;
      while (j < raw.length) {
        if (inBlock) {
          const e = raw.indexOf('*/', j);
          if (e < 0) break;
          inBlock = false;
          j = e + 2;
          res += ' ';
          continue;
        }
        const c = raw[j];
        if (c === '"' || c === "'") {
          let k = j + 1;
          while (k < raw.length && raw[k] !== c) k += raw[k] === '\\' ? 2 : 1;
          if (k >= raw.length) {
            res += c;
            j++;
          } else {
            res += raw.slice(j, k + 1);
            j = k + 1;
          }
          continue;
        }
        if (c === '/' && raw[j + 1] === '*') {
          inBlock = true;
          j += 2;
          continue;
        }
        if (c === '/' && raw[j + 1] === '/') break;
        res += c;
        j++;
      }
      out.push({ text: res, line: first + 1 });
      // Keep the array index == line number - 1 for spliced lines (they become empty).
      for (let k = first + 1; k <= i; k++) out.push({ text: '', line: k + 1 });
    }
    return out;
  }

  private processFile(file: string, text: string): void {
    let lines = this.linesCache.get(file);
    if (!lines) {
      // Across runs (the language server re-assembles on every edit) unchanged headers are split once.
      const shared = SPLIT_CACHE.get(file);
      if (shared && shared.text === text) {
        lines = shared.lines;
        this.guards.set(file, shared.guard);
      } else {
        lines = this.logicalLines(text);
        const guard = detectGuard(lines);
        this.guards.set(file, guard);
        if (SPLIT_CACHE.size >= SPLIT_CACHE_LIMIT) SPLIT_CACHE.clear();
        SPLIT_CACHE.set(file, { text, lines, guard });
      }
      this.linesCache.set(file, lines);
    }
    const conds: CondState[] = [];
    const active = (): boolean => conds.length === 0 || conds[conds.length - 1].active;
    for (let i = 0; i < lines.length; i++) {
      const { text: t, line } = lines[i];
      const isDirective = t.trimStart().startsWith('#');
      if (!isDirective && (t === '' || !active())) continue;
      const loc: SourceLoc = { file, line };
      const dm = isDirective ? /^\s*#\s*([A-Za-z_]\w*)?(.*)$/.exec(t) : null;
      if (dm) {
        const name = dm[1] ?? '';
        const rest = dm[2];
        switch (name) {
          case 'if':
          case 'ifdef':
          case 'ifndef': {
            const parentActive = active();
            let v = false;
            if (parentActive) {
              if (name === 'if') v = this.evalCondition(rest, loc);
              else {
                const id = /^\s*([A-Za-z_]\w*)/.exec(rest);
                if (!id) this.error(`#${name} needs a macro name`, loc);
                v = id !== null && this.macros.has(id[1]) === (name === 'ifdef');
              }
            }
            conds.push({ active: parentActive && v, taken: v, parentActive, sawElse: false });
            continue;
          }
          case 'elif': {
            const c = conds[conds.length - 1];
            if (!c || c.sawElse) {
              this.error('#elif without #if', loc);
              continue;
            }
            if (c.taken || !c.parentActive) c.active = false;
            else {
              c.active = this.evalCondition(rest, loc);
              c.taken = c.active;
            }
            continue;
          }
          case 'else': {
            const c = conds[conds.length - 1];
            if (!c || c.sawElse) {
              this.error('#else without #if', loc);
              continue;
            }
            c.sawElse = true;
            c.active = c.parentActive && !c.taken;
            c.taken = true;
            continue;
          }
          case 'endif':
            if (!conds.pop()) this.error('#endif without #if', loc);
            continue;
        }
        if (!active()) continue;
        switch (name) {
          case 'define':
            this.define(rest, loc);
            continue;
          case 'undef': {
            const id = /^\s*([A-Za-z_]\w*)/.exec(rest);
            if (id) this.macros.delete(id[1]);
            else this.error('#undef needs a macro name', loc);
            continue;
          }
          case 'include':
          case 'include_next':
            this.include(rest, file, loc);
            continue;
          case 'error':
            this.error(`#error ${rest.trim()}`, loc);
            continue;
          case 'warning':
            this.error(`#warning ${rest.trim()}`, loc, 'warning');
            continue;
          case 'pragma':
            if (rest.trim() === 'once') this.onceFiles.add(file);
            continue;
          case 'line':
          case 'ident':
          case '':
            continue;
          default:
            // Assembler mode: '# text' that is no directive passes through (gas treats it as a comment).
            break;
        }
      }
      if (!active()) continue;
      if (!this.mentionsMacro(t)) {
        // Nothing to expand: the line goes out as written (most assembly lines).
        if (t.trim() !== '') this.lines.push({ text: t, loc, includeStack: this.stackSnapshot });
        continue;
      }
      // A function-like macro's arguments may run over several lines.
      let toks = tokenize(t);
      let expanded: CppTok[] | undefined;
      for (;;) {
        expanded = this.expand(toks, loc, true);
        if (expanded || i + 1 >= lines.length || /^\s*#/.test(lines[i + 1].text)) break;
        toks = toks.concat(tokenize(' ' + lines[++i].text));
      }
      const out = printTokens(expanded ?? this.expand(toks, loc) ?? []);
      if (out.trim() !== '') this.lines.push({ text: out, loc, includeStack: this.stackSnapshot });
    }
    if (conds.length) this.error('unterminated #if', { file, line: lines.length });
  }

  /** Could this line contain a macro use? (Identifiers inside strings count: it only picks the slow path.) */
  private mentionsMacro(t: string): boolean {
    const re = /[A-Za-z_]\w*/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(t))) {
      if (this.macros.has(m[0]) || m[0] === '__LINE__' || m[0] === '__FILE__') return true;
    }
    return false;
  }

  private include(rest: string, file: string, loc: SourceLoc): void {
    let spec = rest.trim();
    if (!/^["<]/.test(spec)) spec = printTokens(this.expand(tokenize(spec), loc) ?? []).trim();
    const m = /^"([^"]*)"|^<([^>]*)>/.exec(spec);
    if (!m) {
      this.error(`#include expects "FILE" or <FILE>`, loc);
      return;
    }
    const name = m[1] ?? m[2];
    const path = this.findInclude(name, dirname(file), m[1] !== undefined);
    if (!path) {
      this.error(`${name}: No such file or directory`, loc);
      return;
    }
    this.includeFile(path, loc);
  }

  private define(rest: string, loc: SourceLoc): void {
    const m = /^\s*([A-Za-z_]\w*)(\(([^)]*)\))?(.*)$/.exec(rest);
    if (!m) {
      this.error('#define needs a macro name', loc);
      return;
    }
    const name = m[1];
    let params: string[] | undefined;
    let variadic = false;
    if (m[2] !== undefined) {
      params = m[3].split(',').map((s) => s.trim()).filter((s) => s !== '');
      const last = params[params.length - 1];
      if (last === '...') {
        variadic = true;
        params[params.length - 1] = '__VA_ARGS__';
      } else if (last?.endsWith('...')) {
        // GNU named variadic parameter: args...
        variadic = true;
        params[params.length - 1] = last.slice(0, -3).trim();
      }
      if (params.some((p) => !/^[A-Za-z_]\w*$/.test(p))) {
        this.error(`bad parameter list in #define ${name}`, loc);
        return;
      }
    }
    const body = m[4].trim();
    const mac = defineMacro(name, body, params, variadic, loc);
    if (mac.bodyTokens.length) mac.bodyTokens[0].space = false;
    this.macros.set(name, mac);
  }

  /**
   * Expand macros in a token list. With `needAll`, returns undefined when a function-like macro's
   * argument list is not closed on this line (the caller appends the next line and retries).
   */
  expand(input: CppTok[], loc: SourceLoc, needAll = false): CppTok[] | undefined {
    const toks = input.slice();
    const out: CppTok[] = [];
    let guard = 0;
    let i = 0;
    while (i < toks.length) {
      const tok = toks[i];
      const mac = tok.kind === 'id' ? this.macros.get(tok.text) : undefined;
      if (!mac || tok.hide?.has(tok.text)) {
        if (tok.kind === 'id' && (tok.text === '__LINE__' || tok.text === '__FILE__') && !this.macros.has(tok.text)) {
          out.push({ ...tok, kind: tok.text === '__LINE__' ? 'num' : 'str', text: tok.text === '__LINE__' ? String(loc.line) : JSON.stringify(loc.file) });
        } else out.push(tok);
        i++;
        continue;
      }
      if (++guard > 100000) {
        this.error(`macro expansion too large (${tok.text})`, loc);
        return out.concat(toks.slice(i));
      }
      let hide = new Set(tok.hide ?? []);
      hide.add(mac.name);
      let end = i; // last token consumed
      let args: CppTok[][] = [];
      if (mac.params) {
        const j = i + 1;
        if (j >= toks.length || toks[j].text !== '(') {
          out.push(tok);
          i++;
          continue;
        }
        const r = this.collectArgs(toks, j);
        if (!r) {
          if (needAll) return undefined;
          this.error(`unterminated argument list invoking macro "${mac.name}"`, loc);
          out.push(...toks.slice(i));
          return out;
        }
        args = r.args;
        end = r.end;
        const rp = toks[end];
        hide = new Set([...(tok.hide ?? [])].filter((h) => rp.hide?.has(h)));
        hide.add(mac.name);
        const want = mac.params.length;
        if (args.length === 1 && args[0].length === 0 && want === 0) args = [];
        if (mac.variadic && args.length === want - 1) args.push([]);
        if (args.length !== want && !(mac.variadic && args.length > want)) {
          this.error(`macro "${mac.name}" expects ${want} argument(s), got ${args.length}`, loc);
          out.push(...toks.slice(i, end + 1));
          i = end + 1;
          continue;
        }
        if (mac.variadic && args.length > want) {
          const merged: CppTok[] = [];
          for (let k = want - 1; k < args.length; k++) {
            if (k > want - 1) merged.push({ text: ',', kind: 'punct', space: false });
            merged.push(...args[k]);
          }
          args = [...args.slice(0, want - 1), merged];
        }
      }
      const body = this.substitute(mac, args, hide, loc);
      if (body.length) body[0] = { ...body[0], space: tok.space, pad: true };
      const after = toks[end + 1];
      if (after) toks[end + 1] = { ...after, pad: true };
      toks.splice(i, end - i + 1, ...body);
    }
    return out;
  }

  private collectArgs(toks: CppTok[], open: number): { args: CppTok[][]; end: number } | undefined {
    const args: CppTok[][] = [[]];
    let depth = 0;
    for (let j = open + 1; j < toks.length; j++) {
      const t = toks[j];
      if (t.text === '(') depth++;
      else if (t.text === ')') {
        if (depth === 0) return { args, end: j };
        depth--;
      } else if (t.text === ',' && depth === 0) {
        args.push([]);
        continue;
      }
      args[args.length - 1].push(t);
    }
    return undefined;
  }

  private substitute(mac: CppMacro, args: CppTok[][], hide: Set<string>, loc: SourceLoc): CppTok[] {
    const params = mac.params ?? [];
    const body = mac.bodyTokens;
    const argIndex = (t: CppTok | undefined): number => (t && t.kind === 'id' ? params.indexOf(t.text) : -1);
    const res: CppTok[] = [];
    let padNext = false;
    for (let k = 0; k < body.length; k++) {
      const t = body[k];
      if (t.text === '#' && mac.params) {
        const a = argIndex(body[k + 1]);
        if (a >= 0) {
          res.push({ text: stringize(args[a]), kind: 'str', space: t.space });
          k++;
          continue;
        }
      }
      const a = argIndex(t);
      if (a >= 0) {
        const nextIsPaste = body[k + 1]?.text === '##';
        const prevIsPaste = body[k - 1]?.text === '##';
        if (nextIsPaste || prevIsPaste) {
          // GNU ", ## __VA_ARGS__": drop the comma when the variable argument is empty.
          if (prevIsPaste && mac.variadic && a === params.length - 1 && args[a].length === 0 && res.length && res[res.length - 1].text === ',' ) {
            res.pop();
            continue;
          }
          const raw = args[a].map((x) => ({ ...x }));
          if (raw.length) raw[0].space = t.space;
          res.push(...raw);
          if (raw.length === 0) res.push({ text: '', kind: 'punct', space: t.space }); // placemarker
        } else {
          const exp = this.expand(args[a], loc) ?? [];
          const copy = exp.map((x) => ({ ...x }));
          if (copy.length) copy[0] = { ...copy[0], space: t.space, pad: true };
          res.push(...copy);
          padNext = true; // gcc pads after an expanded argument: space if the next token would paste
        }
        continue;
      }
      if (t.text === '##' && res.length && k + 1 < body.length) {
        // Paste the last token with the first token of what follows.
        const left = res.pop() as CppTok;
        const nb = body[k + 1];
        const b = argIndex(nb);
        let rightToks: CppTok[];
        if (b >= 0) {
          rightToks = args[b].map((x) => ({ ...x }));
          if (mac.variadic && b === params.length - 1 && left.text === ',') {
            // GNU ", ## __VA_ARGS__": no pasting; with empty arguments the comma goes.
            k++;
            if (rightToks.length) res.push(left, ...rightToks);
            continue;
          }
        } else rightToks = [{ ...nb }];
        k++;
        const first = rightToks.shift();
        const pasted = left.text + (first?.text ?? '');
        let re = tokenize(pasted);
        if (re.length > 1 && first) {
          // Assembler mode (like gcc's lang-asm): an invalid paste is no error, the two tokens
          // just stay side by side - e.g. .L__sym_size_ ## \asmsym in a gas macro body.
          re = [{ ...left, space: left.space }, { ...first, space: false }];
        }
        if (re.length) re[0].space = left.space;
        res.push(...re, ...rightToks);
        continue;
      }
      res.push(padNext ? { ...t, pad: true } : { ...t });
      padNext = false;
    }
    const out = res.filter((x) => x.text !== '');
    for (const x of out) {
      // Hide sets are never changed once made, so tokens can share one.
      if (!x.hide || x.hide.size === 0) x.hide = hide;
      else if (x.hide !== hide) {
        const h = new Set(x.hide);
        for (const n of hide) h.add(n);
        x.hide = h;
      }
    }
    return out;
  }

  private evalCondition(text: string, loc: SourceLoc): boolean {
    // Replace defined X / defined(X) before expansion.
    const toks = tokenize(text);
    const pre: CppTok[] = [];
    for (let k = 0; k < toks.length; k++) {
      if (toks[k].text === 'defined') {
        let name: string | undefined;
        if (toks[k + 1]?.text === '(' && toks[k + 3]?.text === ')') {
          name = toks[k + 2].text;
          k += 3;
        } else if (toks[k + 1]) {
          name = toks[k + 1].text;
          k += 1;
        }
        if (!name) this.error('operator "defined" requires an identifier', loc);
        pre.push({ text: name && this.macros.has(name) ? '1' : '0', kind: 'num', space: true });
      } else pre.push(toks[k]);
    }
    const exp = this.expand(pre, loc) ?? [];
    try {
      return new CondParser(exp).parse() !== 0n;
    } catch (e) {
      this.error(`#if: ${(e as Error).message}`, loc);
      return false;
    }
  }
}

/** `#ifndef G` first and its `#endif` last (only blank lines outside): the include guard G. */
function detectGuard(lines: LogicalLine[]): string | undefined {
  let guard: string | undefined;
  let depth = 0;
  let closed = false;
  for (const { text } of lines) {
    if (text.trim() === '') continue;
    if (closed) return undefined;
    const d = /^\s*#\s*(\w+)\s*(\w*)/.exec(text);
    if (guard === undefined) {
      if (!d || d[1] !== 'ifndef' || !d[2]) return undefined;
      guard = d[2];
      depth = 1;
      continue;
    }
    if (!d) continue;
    if (d[1] === 'if' || d[1] === 'ifdef' || d[1] === 'ifndef') depth++;
    else if (d[1] === 'endif' && --depth === 0) closed = true;
    else if (depth === 1 && (d[1] === 'else' || d[1] === 'elif')) return undefined;
  }
  return closed ? guard : undefined;
}

function stringize(toks: CppTok[]): string {
  let s = '';
  toks.forEach((t, k) => {
    if (k > 0 && t.space) s += ' ';
    s += t.kind === 'str' ? t.text.replace(/\\/g, '\\\\').replace(/"/g, '\\"') : t.text;
  });
  return `"${s}"`;
}

/** #if expression evaluator: C integer arithmetic on 64-bit values; unknown identifiers are 0. */
class CondParser {
  private i = 0;
  constructor(private toks: CppTok[]) {}

  parse(): bigint {
    const v = this.ternary();
    if (this.i < this.toks.length) throw new Error(`unexpected "${this.toks[this.i].text}"`);
    return v;
  }

  private peek(): string | undefined {
    return this.toks[this.i]?.text;
  }

  private ternary(): bigint {
    const c = this.binary(0);
    if (this.peek() === '?') {
      this.i++;
      const a = this.ternary();
      if (this.peek() !== ':') throw new Error('expected ":"');
      this.i++;
      const b = this.ternary();
      return c !== 0n ? a : b;
    }
    return c;
  }

  private static LEVELS: string[][] = [['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '>', '<=', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

  private binary(level: number): bigint {
    if (level >= CondParser.LEVELS.length) return this.unary();
    let l = this.binary(level + 1);
    for (;;) {
      const op = this.peek();
      if (!op || !CondParser.LEVELS[level].includes(op)) return l;
      this.i++;
      const r = this.binary(level + 1);
      l = BigInt.asIntN(64, applyC(op, l, r));
    }
  }

  private unary(): bigint {
    const t = this.toks[this.i++];
    if (!t) throw new Error('missing operand');
    switch (t.text) {
      case '-': return BigInt.asIntN(64, -this.unary());
      case '+': return this.unary();
      case '~': return ~this.unary();
      case '!': return this.unary() === 0n ? 1n : 0n;
      case '(': {
        const v = this.ternary();
        if (this.peek() !== ')') throw new Error('missing ")"');
        this.i++;
        return v;
      }
    }
    if (t.kind === 'num') {
      const s = t.text.replace(/[uUlL]+$/, '');
      if (/^0[0-7]+$/.test(s)) return BigInt('0o' + s.slice(1));
      try {
        return BigInt.asIntN(64, BigInt(s));
      } catch {
        throw new Error(`bad number ${t.text}`);
      }
    }
    if (t.kind === 'id') return 0n;
    if (t.kind === 'str' && t.text.startsWith("'")) return BigInt(t.text.charCodeAt(1));
    throw new Error(`unexpected "${t.text}"`);
  }
}

function applyC(op: string, l: bigint, r: bigint): bigint {
  switch (op) {
    case '||': return l !== 0n || r !== 0n ? 1n : 0n;
    case '&&': return l !== 0n && r !== 0n ? 1n : 0n;
    case '|': return l | r;
    case '^': return l ^ r;
    case '&': return l & r;
    case '==': return l === r ? 1n : 0n;
    case '!=': return l !== r ? 1n : 0n;
    case '<': return l < r ? 1n : 0n;
    case '>': return l > r ? 1n : 0n;
    case '<=': return l <= r ? 1n : 0n;
    case '>=': return l >= r ? 1n : 0n;
    case '<<': return l << r;
    case '>>': return l >> r;
    case '+': return l + r;
    case '-': return l - r;
    case '*': return l * r;
    case '/':
      if (r === 0n) throw new Error('division by zero');
      return l / r;
    case '%':
      if (r === 0n) throw new Error('division by zero');
      return l % r;
  }
  throw new Error(`bad operator ${op}`);
}
