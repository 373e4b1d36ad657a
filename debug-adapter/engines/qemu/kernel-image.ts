/**
 * What the QEMU engine knows about the kernel without asking QEMU: symbols and the DWARF line
 * table of its vmlinux, and how a source file the user opened maps onto the file names the
 * line table records (the build machine's paths may differ from the user's checkout).
 */
import { ElfFile, SymbolTable } from '../../../emulator/formats/elf';
import { LineTable, normalizePath } from '../../../emulator/formats/dwarf-line';

export interface ResolvedLine {
  requested: number;
  /** The line the code belongs to (the next line with code when the requested one has none). */
  line: number;
  addresses: bigint[];
}

export class KernelImage {
  readonly symbols: SymbolTable;
  readonly lines: LineTable;

  constructor(readonly elf: ElfFile) {
    this.symbols = new SymbolTable(elf.symbols());
    const debugLine = elf.sectionData('.debug_line');
    if (!debugLine) throw new Error('vmlinux has no .debug_line: build the kernel with CONFIG_DEBUG_INFO (DWARF 4 or 5)');
    this.lines = new LineTable({ debugLine, debugLineStr: elf.sectionData('.debug_line_str'), debugStr: elf.sectionData('.debug_str') });
  }

  static fromBytes(bytes: Uint8Array): KernelImage {
    return new KernelImage(new ElfFile(bytes));
  }

  /**
   * The line-table files that are `path`: the ones sharing the longest run of trailing path
   * components with it (at least the file name). "/home/me/linux/arch/x86/entry/entry_64.S"
   * finds "/build/linux-6.1/arch/x86/entry/entry_64.S".
   */
  filesFor(path: string): number[] {
    const want = normalizePath(path).split('/');
    let best = 0;
    let out: number[] = [];
    this.lines.files.forEach((f, i) => {
      const have = f.split('/');
      let n = 0;
      while (n < want.length && n < have.length && want[want.length - 1 - n] === have[have.length - 1 - n]) n++;
      if (n > best) { best = n; out = [i]; } else if (n === best && n > 0) out.push(i);
    });
    return best > 0 ? out : [];
  }

  /** Addresses of a source line; a line without code moves to the next one that has some. */
  resolveLine(path: string, line: number): ResolvedLine | undefined {
    const files = this.filesFor(path);
    if (files.length === 0) return undefined;
    const withCode = this.lines.linesWithCode(files);
    const target = withCode.find((l) => l >= line);
    if (target === undefined || target - line > 50) return { requested: line, line, addresses: [] };
    return { requested: line, line: target, addresses: this.lines.addressesOf(files, target) };
  }

  symbol(name: string): bigint | undefined {
    return this.symbols.address(name);
  }
}
