/**
 * The linker: section placement and concatenation with alignment, relocation against other
 * objects' globals and externs, unresolved references as diagnostics, absolute line addresses.
 */
import { strict as assert } from 'node:assert';
import { link } from '../../../emulator/asm';
import { ours } from './gas-helper';

describe('asm: link', () => {
  const a = ours('\t.globl main\nmain:\n\tcall helper\n\tmovq $table, %rax\n\tleaq table(%rip), %rbx\n\tjmp ext_fn\n\t.data\nlocal_a:\n\t.quad local_a\n');
  const b = ours('\t.globl helper, table\n\t.p2align 4\nhelper:\n\tret\n\t.data\n\t.byte 1\n\t.p2align 3\ntable:\n\t.quad helper\n');

  it('places sections at their bases, concatenates same-named parts aligned, and resolves across objects', () => {
    const img = link([a, b], { sectionBases: { '.text': 0x400000n, '.data': 0x600000n }, externs: new Map([['ext_fn', 0x401000n]]) });
    assert.deepEqual(img.diagnostics, []);
    const text = img.segments.find((s) => s.name === '.text');
    const data = img.segments.find((s) => s.name === '.data');
    assert.ok(text && data);
    assert.equal(img.symbols.get('main'), 0x400000n);
    const helper = img.symbols.get('helper');
    assert.equal(helper, 0x400000n + 0x20n, 'b.text starts 16-aligned after a.text (0x18 bytes)');
    assert.equal(text.bytes[0x20], 0xc3);
    const dv = new DataView(text.bytes.buffer, text.bytes.byteOffset);
    assert.equal(0x400005n + BigInt(dv.getInt32(1, true)), helper, 'call helper');
    const table = img.symbols.get('table');
    assert.equal(table, 0x600000n + 8n + 8n, "b's .data after a's 8 bytes, table 8-aligned after one byte");
    assert.equal(BigInt(dv.getInt32(8, true)), table, 'movq $table (R_X86_64_32S)');
    assert.equal(0x400013n + BigInt(dv.getInt32(15, true)), table, 'leaq table(%rip) (PC32)');
    assert.equal(0x400018n + BigInt(dv.getInt32(0x14, true)), 0x401000n, 'jmp ext_fn via externs');
    const ddv = new DataView(data.bytes.buffer, data.bytes.byteOffset);
    assert.equal(ddv.getBigUint64(0, true), 0x600000n, 'local_a points at itself (section-relative R_X86_64_64)');
    assert.equal(ddv.getBigUint64(16, true), helper);
  });

  it('puts unlisted sections after the previous one and gives line rows absolute, sorted addresses', () => {
    const img = link([a, b], { sectionBases: { '.text': 0x1000n }, externs: new Map([['ext_fn', 0n]]) });
    const data = img.segments.find((s) => s.name === '.data');
    assert.equal(data?.address, 0x1000n + 0x21n + 7n, '.data follows .text, 8-aligned');
    const call = img.lines.find((l) => l.text === 'call helper');
    assert.equal(call?.address, 0x1000n);
    assert.equal(call?.loc.line, 3);
    for (let i = 1; i < img.lines.length; i++) assert.ok(img.lines[i - 1].address <= img.lines[i].address);
  });

  it('reports an unresolved symbol at the line that uses it', () => {
    const img = link([a], { sectionBases: { '.text': 0x1000n }, externs: new Map() });
    const msgs = img.diagnostics.map((d) => `${d.loc.line}: ${d.message}`).sort();
    assert.deepEqual(msgs, ["3: undefined reference to `helper'", "4: undefined reference to `table'", "5: undefined reference to `table'", "6: undefined reference to `ext_fn'"]);
  });

  it('reports a relocation that does not fit', () => {
    const o = ours('\tmovl $far, %eax\n');
    const img = link([o], { sectionBases: { '.text': 0n }, externs: new Map([['far', 0x1_0000_0000n]]) });
    assert.equal(img.diagnostics.length, 1);
    assert.match(img.diagnostics[0].message, /R_X86_64_32 against `far' out of range/);
  });
});
