/**
 * The kentry-asm TextMate grammar: assertion cases and a snapshot run through vscode-tmgrammar-test,
 * and the seed entry_SYSCALL_64 (read from ../shared/seed at test time) tokenized as VS Code would.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { scanSource } from '../../../language-server/source-lines';
import { grammarPath, repoRoot, tokenize, type Token } from './tokenize';

const bin = (name: string): string => path.join(repoRoot, 'node_modules/.bin', name);
const seedS = path.resolve(repoRoot, '../shared/seed/entry_SYSCALL_64.v5.8.13.annotated.S');

describe('kentry-asm grammar', () => {
  it('passes the scope assertions in test/unit/grammar/cases', () => {
    const out = execFileSync(bin('vscode-tmgrammar-test'), ['-g', grammarPath, 'test/unit/grammar/cases/*.test.S'], { cwd: repoRoot, encoding: 'utf8' });
    assert.match(out, /run successfuly/);
  });

  it('tokenizes the LSP fixture as its snapshot says', () => {
    execFileSync(bin('vscode-tmgrammar-snap'), ['-g', grammarPath, 'test/fixtures/lsp/annotated.S'], { cwd: repoRoot, encoding: 'utf8' });
  });

  describe('on the seed entry_SYSCALL_64', () => {
    const text = fs.readFileSync(seedS, 'utf8');
    let lines: Token[][];
    before(async () => {
      lines = await tokenize(text);
    });
    const tokensOf = (needle: string): Token[] => lines[text.split('\n').findIndex((l) => l.includes(needle))];
    const scopeOf = (needle: string, token: string): string[] => {
      const t = tokensOf(needle).find((x) => x.text === token);
      assert.ok(t, `token ${token} on the line with ${needle}`);
      return t.scopes;
    };

    it('scopes swapgs and sysretq-style mnemonics as privileged, movq as a plain mnemonic', () => {
      assert.ok(scopeOf('swapgs', 'swapgs').includes('keyword.mnemonic.privileged.kentry-asm'));
      assert.ok(scopeOf('movq	%rsp, PER_CPU_VAR', 'movq').includes('keyword.mnemonic.kentry-asm'));
    });

    it('scopes registers, immediates, macro calls and linkage macros', () => {
      assert.ok(scopeOf('movq	%rsp, PER_CPU_VAR', 'rsp').includes('variable.other.register.kentry-asm'));
      assert.ok(scopeOf('movq	%rsp, PER_CPU_VAR', 'PER_CPU_VAR').includes('entity.name.function.macro.call.kentry-asm'));
      assert.ok(scopeOf('pushq	$__USER_DS', '__USER_DS').includes('variable.other.constant.immediate.kentry-asm'));
      assert.ok(scopeOf('SWITCH_TO_KERNEL_CR3', 'SWITCH_TO_KERNEL_CR3').includes('entity.name.function.macro.call.kentry-asm'));
      assert.ok(scopeOf('SYM_CODE_START', 'entry_SYSCALL_64').includes('entity.name.function.kentry-asm'));
      assert.ok(scopeOf('syscall_return_via_sysret:', 'syscall_return_via_sysret').includes('entity.name.function.label.kentry-asm'));
    });

    it('tells #ifdef/#else/#endif directives from code', () => {
      assert.ok(scopeOf('#ifdef CONFIG_X86_5LEVEL', 'ifdef').includes('keyword.control.directive.conditional.kentry-asm'));
      assert.ok(scopeOf('#endif', 'endif').includes('keyword.control.directive.conditional.kentry-asm'));
    });

    it('agrees with the language server on which lines are comments: every token there is a comment', () => {
      const src = scanSource(text);
      const commentLines = src.filter((l) => l.kind === 'comment');
      assert.ok(commentLines.length > 50);
      for (const l of commentLines) {
        for (const t of lines[l.index]) {
          if (!t.text.trim()) continue;
          assert.ok(t.scopes.some((s) => s.startsWith('comment.')), `line ${l.index + 1} token ${JSON.stringify(t.text)}: ${t.scopes.join(' ')}`);
        }
      }
      // And no code line is swallowed by a comment (e.g. an unclosed /* or a fence ``` inside one).
      for (const l of src.filter((x) => x.kind === 'code')) {
        const first = lines[l.index].find((t) => t.text.trim());
        assert.ok(first && !first.scopes.some((s) => s.startsWith('comment.')), `line ${l.index + 1} starts as code`);
      }
    });
  });

  it('agrees with the language server on comment and code lines in every samples/ source and header', async () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(S|s|h)$/.test(e.name)) files.push(p);
      }
    };
    walk(path.join(repoRoot, 'samples'));
    assert.ok(files.length > 5, 'samples/ has sources');
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const toks = await tokenize(text);
      for (const l of scanSource(text)) {
        const first = toks[l.index].find((t) => t.text.trim());
        if (!first) continue;
        const isComment = first.scopes.some((s) => s.startsWith('comment.'));
        if (l.kind === 'comment') assert.ok(isComment, `${path.relative(repoRoot, file)}:${l.index + 1} should be a comment`);
        if (l.kind === 'code' || l.kind === 'directive') assert.ok(!isComment, `${path.relative(repoRoot, file)}:${l.index + 1} should be code`);
      }
    }
  });
});
