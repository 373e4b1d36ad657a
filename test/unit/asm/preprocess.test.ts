/**
 * The C preprocessor against gcc -E (assembler-with-cpp): same text, and every output line
 * still knows the file:line it was written on.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expandText, preprocess } from '../../../emulator/asm';
import { memoryFiles } from '../../../emulator/host';
import { gccPreprocess, tmpDir } from './gas-helper';

const norm = (s: string): string[] => s.split('\n').map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l !== '');

function write(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmpDir(), 'cpp-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function fromDisk(): { readFile(p: string): string | undefined } {
  return { readFile: (p) => (fs.existsSync(p) && fs.statSync(p).isFile() ? fs.readFileSync(p, 'utf8') : undefined) };
}

describe('asm: C preprocessor', () => {
  it('expands like gcc -E: function-like, #, ##, __VA_ARGS__, rescanning, conditionals, includes', () => {
    const dir = write({
      'main.S': `#include "inc/defs.h"
#include <other.h>
#define STR(x) #x
#define XSTR(x) STR(x)
#define CAT(a,b) a##b
#define V(fmt, ...) fmt, ## __VA_ARGS__
#define SELF SELF + 1
#define A B
#define B A
#define PER_CPU_VAR(var) %gs:var
#if defined(FOO) && FOO > 0 && !defined(NOPE)
 movq $ADD(FOO, 2), %rax /* comment */ // c++ comment
#elif 1
 wrong
#else
 wrong
#endif
#ifdef OTHER
 .byte OTHER
#endif
 .ascii XSTR(ADD(1,2)) ; CAT(mov, q) %rax, %rbx
 V(x) V(y, 1, 2)
 SELF A B
 FOO+x ; x+FOO ; -FOO ; $-FOO
 movq %rsp, PER_CPU_VAR(cpu_tss_rw + 8)
 ADD(1,
   2)
#if (3 * 4 == 12) && (1 << 3) == 8 && (-1 < 0) && (7 / 2 == 3) && 0x10 == 16 && 010 == 8 && 5UL == 5
 arith_ok
#endif
/* a comment
   over lines */ after_comment
 cont \\
   inued
# not a directive: gas comment
#define SZ(name) .set .L__sym_size_##name, .-name
 SZ(\\asmsym)
`,
      'inc/defs.h': '#define FOO 1\n#define ADD(a,b) ((a)+(b))\n',
      'sys/other.h': '#define OTHER 0x42\n',
    });
    const main = path.join(dir, 'main.S');
    const ref = gccPreprocess(main, [path.join(dir, 'sys')]);
    const r = preprocess({ file: main, fs: fromDisk(), includeDirs: [path.join(dir, 'sys')] });
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(norm(r.lines.map((l) => l.text).join('\n')), norm(ref));
  });

  it('keeps each line\'s file:line and include chain', () => {
    const fsx = memoryFiles({
      '/p/main.S': '#include "a.h"\n/* two\nlines */\n  line4\n#define M(x) x\n  M(line6)\n',
      '/p/a.h': '\n  from_a\n',
    });
    const r = preprocess({ file: '/p/main.S', fs: fsx });
    const got = r.lines.map((l) => `${l.text.trim()}@${l.loc.file}:${l.loc.line}<${l.includeStack.map((f) => `${f.loc.file}:${f.loc.line}`).join(',')}`);
    assert.deepEqual(got, ['from_a@/p/a.h:2</p/main.S:1', 'line4@/p/main.S:4<', 'line6@/p/main.S:6<']);
  });

  it('exports the macro table so a #define\'s value and expansion can be shown', () => {
    const r = preprocess({ file: '/m.S', fs: memoryFiles({ '/m.S': '#define TSS_sp2 20\n#define PER_CPU_VAR(v) %gs:v\n' }), defines: { CONFIG_X: '1' } });
    assert.equal(r.defines.get('TSS_sp2')?.body, '20');
    assert.deepEqual(r.defines.get('PER_CPU_VAR')?.params, ['v']);
    assert.equal(r.defines.get('PER_CPU_VAR')?.loc?.line, 2);
    assert.equal(r.defines.get('CONFIG_X')?.body, '1');
    assert.equal(expandText('movq %rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', r.defines), 'movq %rsp, %gs:cpu_tss_rw + 20');
  });

  it('reports an include cycle, #error and a missing include with file:line instead of throwing', () => {
    const fsx = memoryFiles({
      '/c/main.S': 'ok\n#include "a.h"\n#include "missing.h"\n#if 1\n#error stop here\n#endif\n',
      '/c/a.h': '#include "b.h"\n',
      '/c/b.h': '#include "a.h"\n',
    });
    const r = preprocess({ file: '/c/main.S', fs: fsx });
    const msgs = r.diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`);
    assert.ok(msgs.some((m) => /include cycle/.test(m) && /^\/c\/[ab]\.h:1:/.test(m)), msgs.join('\n'));
    assert.ok(msgs.includes('/c/main.S:3: missing.h: No such file or directory'), msgs.join('\n'));
    assert.ok(msgs.includes('/c/main.S:5: #error stop here'), msgs.join('\n'));
    const cyc = r.diagnostics.find((d) => /include cycle/.test(d.message));
    assert.equal(cyc?.stack.length, 64);
    assert.equal(cyc?.stack[0].loc.file, '/c/main.S');
  });

  it('honours -D, -include and #undef', () => {
    const fsx = memoryFiles({ '/d/main.S': 'A B\n#undef A\nA\n', '/d/pre.h': '#define B from_pre\n' });
    const r = preprocess({ file: '/d/main.S', fs: fsx, defines: { A: 'defined_a' }, preIncludes: ['/d/pre.h'] });
    assert.deepEqual(r.lines.map((l) => l.text.trim()), ['defined_a from_pre', 'A']);
  });
});
