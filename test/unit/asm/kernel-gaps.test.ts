/**
 * Assembler behaviours the real Linux 6.1 entry_64.S exposed (test/real/ASM-GAPS.md), each
 * compared with GNU as on a small input.
 */
import { strict as assert } from 'node:assert';
import { compareWithGas, gas, ours } from './gas-helper';

function sameAsGas(src: string): void {
  const obj = ours(src);
  assert.deepEqual(obj.diagnostics.map((d) => `${d.loc.line}: ${d.message}`), []);
  assert.deepEqual(compareWithGas(obj, gas(src)), []);
}

/** Linux 6.1's clear_bhb_loop shape: a jmp over `.align 64` and a label-dependent `.skip`, after code that grows. */
const clearBhbLoop = (fill: number): string => `
	.text
	jz far
	jz far
	jz far
	jz far
	.fill ${fill}, 1, 0x90
	call 1f
	jmp 5f
	.align 64, 0xcc
	.skip 32 - (.Lret1 - 1f), 0xcc
1:	call 2f
.Lret1:	ret
	int3
	.align 64, 0xcc
	.skip 32 - 18, 0xcc
2:	movl $5, %eax
3:	jmp 4f
	nop
4:	sub $1, %eax
	jnz 3b
	sub $1, %ecx
	jnz 1b
	ret
5:	lfence
	ret
	.fill 300, 1, 0x90
far:	ret
`;

describe('asm: what the real Linux 6.1 entry_64.S needs (ASM-GAPS.md)', () => {
  it('#1 growth before a forward jump reaches its target only in multiples of the .align in between (gas stretch)', () => {
    for (const fill of [0, 3, 10, 18, 19, 40]) sameAsGas(clearBhbLoop(fill));
  });

  it('#2 references to locals in a mergeable string section stay against the symbol when pc-relative or offset', () => {
    sameAsGas(`
	.section __ksymtab_strings, "aMS", @progbits, 1
__kstrtab_a:	.asciz "asm_load_gs_index"
__kstrtab_b:	.asciz "clear_bhb_loop"
	.section ___ksymtab+a, "a"
	.long __kstrtab_a - .
	.long __kstrtab_b - .
	.quad __kstrtab_b
	.quad __kstrtab_b + 2
	.text
	lea __kstrtab_b(%rip), %rax
	movq $__kstrtab_b, %rax
	movq $(__kstrtab_a + 3), %rax
`);
  });

  it('#3 `.` advances operand by operand in .long/.quad lists (EXPORT_SYMBOL\'s `.long val - ., name - ., 0`)', () => {
    sameAsGas(`
	.data
x:	.long 1
	.section .foo, "a"
y:	.long x - ., x - ., 7
	.quad ., .
	.word 1, . - y, . - y
`);
  });
});
