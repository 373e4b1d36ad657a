/**
 * The ELF and DWARF .debug_line readers on files GNU as and ld make here, DWARF 4 and 5,
 * checked against what the source says (and objdump's decoded line table).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfFile, SymbolTable } from '../../emulator/formats/elf';
import { LineTable } from '../../emulator/formats/dwarf-line';
import { KernelImage } from '../../debug-adapter/engines/qemu/kernel-image';

const SOURCE = [
  '\t.globl _start',
  '\t.text',
  '_start:',
  '\tmov $1, %eax',          // line 4
  '',
  '\t/* a comment line */',
  '\tsyscall',               // line 7
  'helper:',
  '\tpush %rbp',             // line 9
  '\tpop %rbp',              // line 10
  '\tret',                   // line 11
  '',
].join('\n');

for (const dwarf of [4, 5]) {
  describe(`ELF + DWARF ${dwarf} line table reader`, () => {
    let dir: string;
    let exe: string;
    let src: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-dwarf-'));
      src = path.join(dir, 'arch', 'x86', 'entry', 'tiny.S');
      fs.mkdirSync(path.dirname(src), { recursive: true });
      fs.writeFileSync(src, SOURCE);
      execFileSync('as', [`--gdwarf-${dwarf}`, '-o', path.join(dir, 'tiny.o'), src]);
      exe = path.join(dir, 'tiny');
      execFileSync('ld', ['-Ttext=0x401000', '-o', exe, path.join(dir, 'tiny.o')]);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads symbols and maps lines to addresses both ways', () => {
      const elf = new ElfFile(fs.readFileSync(exe));
      const syms = new SymbolTable(elf.symbols());
      assert.equal(syms.address('_start'), 0x401000n);
      assert.equal(syms.describe(0x401008n), 'helper+0x1');
      const lt = new LineTable({ debugLine: elf.sectionData('.debug_line') as Uint8Array, debugLineStr: elf.sectionData('.debug_line_str'), debugStr: elf.sectionData('.debug_str') });
      const files = lt.filesEndingWith('arch/x86/entry/tiny.S');
      assert.equal(files.length, 1, lt.files.join(', '));
      assert.deepEqual(lt.linesWithCode(files), [4, 7, 9, 10, 11]);
      assert.deepEqual(lt.addressesOf(files, 7), [0x401005n]);
      assert.deepEqual(lt.lineAt(0x401005n), { file: lt.files[files[0]], line: 7, address: 0x401005n });
      assert.equal(lt.lineAt(0x401007n)?.line, 9);
      assert.equal(lt.lineAt(0x401008n)?.line, 10);
      assert.equal(lt.lineAt(0x402000n), undefined);
      // objdump agrees on every address.
      const decoded = execFileSync('objdump', ['--dwarf=decodedline', exe], { encoding: 'utf8' });
      for (const m of decoded.matchAll(/^tiny\.S\s+(\d+)\s+(0x[0-9a-f]+)/gm)) {
        assert.equal(lt.lineAt(BigInt(m[2]))?.line, Number(m[1]), `objdump: ${m[0]}`);
      }
    });

    it('resolves a breakpoint on a line of another checkout by path suffix, moving a comment line to the next code line', () => {
      const image = KernelImage.fromBytes(fs.readFileSync(exe));
      const other = '/home/someone/linux/arch/x86/entry/tiny.S';
      assert.deepEqual(image.resolveLine(other, 5), { requested: 5, line: 7, addresses: [0x401005n] });
      assert.equal(image.resolveLine('/elsewhere/other.S', 4), undefined);
    });
  });
}
