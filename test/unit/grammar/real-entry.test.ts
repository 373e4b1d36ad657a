/**
 * The grammar on the real kernel sources: arch/x86/entry/entry_64.S of the Linux trees that
 * scripts/linux-trees.sh extracts under .cache/linux (Debian's linux-source 6.1 and 6.12), read
 * and tokenized at test time (no kernel text is kept in the repo). Skipped when a tree is absent.
 * What a reader would notice: a line drawn as an error, a comment or macro that "leaks" into the
 * following code, a statement whose first word is left uncoloured, a register in plain text.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { scanSource } from '../../../language-server/source-lines';
import { repoRoot, tokenize, type Token } from './tokenize';

const TREES = ['linux-source-6.1', 'linux-source-6.12'];
const has = (t: Token, prefix: string): boolean => t.scopes.some((s) => s.startsWith(prefix));
/** What the first word of a statement may be: an instruction, a directive, a label, a macro or a linkage macro. */
const STATEMENT_START = ['keyword.mnemonic', 'keyword.other.directive', 'keyword.control.directive', 'entity.name.function', 'entity.name.label', 'support.function.linkage', 'punctuation.definition.directive'];

for (const tree of TREES) {
  const file = path.join(repoRoot, '.cache/linux', tree, 'arch/x86/entry/entry_64.S');
  const present = fs.existsSync(file);
  (present ? describe : describe.skip)(`kentry-asm grammar on ${tree}'s arch/x86/entry/entry_64.S${present ? '' : ' (not extracted: run scripts/linux-trees.sh)'}`, () => {
    let text: string;
    let lines: Token[][];
    const where = (i: number, t?: Token): string => `${tree} entry_64.S:${i + 1}${t ? ` ${JSON.stringify(t.text)} [${t.scopes.slice(1).join(' ')}]` : ''}`;
    before(async () => {
      text = fs.readFileSync(file, 'utf8');
      lines = await tokenize(text);
    });

    it('no token falls into an invalid scope, and the file ends back at the top level', () => {
      const bad = lines.flatMap((toks, i) => toks.filter((t) => has(t, 'invalid')).map((t) => where(i, t)));
      assert.deepStrictEqual(bad, []);
      const last = lines.map((toks, i) => ({ toks, i })).filter(({ toks }) => toks.some((t) => t.text.trim())).pop()!;
      const open = last.toks.filter((t) => t.scopes.some((s) => s.startsWith('meta.macro.definition') || s.startsWith('comment.block')));
      assert.deepStrictEqual(open.map((t) => where(last.i, t)), [], 'no .macro body or block comment left open');
    });

    it('comments are comments and code is code, line by line, as the language server reads them', () => {
      const wrong: string[] = [];
      for (const l of scanSource(text)) {
        const first = lines[l.index].find((t) => t.text.trim());
        if (!first) continue;
        if (l.kind === 'comment' && !has(first, 'comment.')) wrong.push(`${where(l.index, first)} should be a comment`);
        if ((l.kind === 'code' || l.kind === 'directive') && has(first, 'comment.')) wrong.push(`${where(l.index, first)} should be code`);
      }
      assert.deepStrictEqual(wrong, []);
    });

    it('every #directive, .directive, .macro, mnemonic and macro call that starts a statement gets its scope', () => {
      const src = scanSource(text);
      const wrong: string[] = [];
      let directives = 0;
      let macros = 0;
      let mnemonics = 0;
      for (const l of src) {
        if (l.kind !== 'code' && l.kind !== 'directive') continue;
        // Continuation lines of a multi-line macro call or #define carry arguments, not a statement.
        if (l.index > 0 && /\\\s*$/.test(src[l.index - 1].code)) continue;
        const first = lines[l.index].find((t) => t.text.trim() && !/^[\s:;]+$/.test(t.text));
        if (!first) continue;
        if (!STATEMENT_START.some((p) => has(first, p))) wrong.push(where(l.index, first));
        if (l.kind === 'directive' && lines[l.index].some((t) => has(t, 'keyword.control.directive'))) directives++;
        if (has(first, 'entity.name.function.macro.call')) macros++;
        if (has(first, 'keyword.mnemonic')) mnemonics++;
      }
      assert.deepStrictEqual(wrong, [], 'statements whose first word is not coloured');
      // The real file is mostly instructions and macro calls, with #include/#ifdef lines between.
      assert.ok(directives > 10 && macros > 100 && mnemonics > 250, JSON.stringify({ directives, macros, mnemonics }));
    });

    it('.macro definitions name their macro; %registers are registers wherever they appear in code', () => {
      const src = scanSource(text);
      const wrong: string[] = [];
      let defs = 0;
      let regs = 0;
      for (const l of src) {
        if (l.kind !== 'code') continue;
        const toks = lines[l.index];
        if (/^\s*\.macro\s+\w+/.test(l.code)) {
          defs++;
          const name = /^\s*\.macro\s+(\w+)/.exec(l.code)![1];
          const t = toks.find((x) => x.text === name);
          if (!t || !has(t, 'entity.name.function.macro')) wrong.push(`${where(l.index, t)} .macro ${name}`);
        }
        for (const m of l.code.matchAll(/%(r[a-z0-9]+|e[a-z]{2}|[a-d][lhx]|[sd]il?|[bs]pl?|cr[0-8]|[c-gs]s)\b/g)) {
          regs++;
          // The register name's token (after the % punctuation).
          let col = 0;
          const t = toks.find((x) => {
            const s = col;
            col += x.text.length;
            return s <= m.index! + 1 && m.index! + 1 < col;
          });
          if (!t || !has(t, 'variable.other.register')) wrong.push(`${where(l.index, t)} ${m[0]}`);
        }
      }
      assert.deepStrictEqual(wrong, []);
      assert.ok(defs >= 5 && regs > 250, JSON.stringify({ defs, regs }));
    });
  });
}
