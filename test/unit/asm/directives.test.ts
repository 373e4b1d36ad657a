/**
 * GNU as front end: macros, repetition, conditionals, data, alignment, sections, numeric
 * local labels and jump relaxation, each compared with what `as --64` produces.
 */
import { strict as assert } from 'node:assert';
import { compareWithGas, gas, ours } from './gas-helper';

function sameAsGas(src: string): void {
  const obj = ours(src);
  assert.deepEqual(obj.diagnostics.map((d) => `${d.loc.line}: ${d.message}`), []);
  assert.deepEqual(compareWithGas(obj, gas(src)), []);
}

describe('asm: directives and macros match GNU as', () => {
  it('expands .macro with defaults, keyword args, :req, :vararg, \\@ and \\()', () => {
    sameAsGas(`
.macro PUSH_REGS rdx=%rdx rax=%rax save_ret=0
	.if \\save_ret
	pushq %rsi
	.else
	pushq %rdi
	.endif
	pushq \\rdx
	pushq \\rax
.endm
.macro V a:req, b:vararg
	.byte \\a
	.byte \\b
.endm
.macro LBL
\\@: nop
	jmp \\@b
.endm
.macro CAT reg
	mov %\\reg\\()d, %\\reg\\()d
.endm
.macro OUTER x
	.macro INNER y
	.byte \\y, \\x
	.endm
	INNER 7
	.purgem INNER
.endm
.macro EARLY n
	.byte 1
	.if \\n
	.exitm
	.endif
	.byte 2
.endm
.text
	PUSH_REGS rax=$-38
	PUSH_REGS save_ret=1
	PUSH_REGS %rbx
	V 1, 2, 3, 4
	LBL
	LBL
	CAT r8
	OUTER 5
	OUTER 6
	EARLY 1
	EARLY 0
`);
  });

  it('repeats with .irp, .irpc and .rept, and re-.sets symbols', () => {
    sameAsGas(`
	.irp reg, rax, rbx, r12
	pushq %\\reg
	.endr
	.irpc c, 123
	.byte \\c
	.endr
	.rept 3
	nop
	.endr
	.set cnt, 0
	.rept 4
	.set cnt, cnt+1
	.byte cnt
	.endr
	x = 5
	.equ y, x * 2
	.byte x, y
`);
  });

  it('evaluates the .if family and gas operator precedence (true is -1)', () => {
    sameAsGas(`
	.ifc foo, foo
	.byte 0x11
	.endif
	.ifnc foo, bar
	.byte 0x22
	.endif
	.ifb
	.byte 0x33
	.endif
	.ifnb x
	.byte 0x34
	.endif
	.ifeq 1 - 1
	.byte 0x44
	.elseif 1
	.byte 0x55
	.else
	.byte 0x66
	.endif
	.ifgt -1
	.byte 0x77
	.else
	.byte 0x78
	.endif
	.ifdef undefined_thing
	.byte 0x88
	.endif
	.ifndef undefined_thing
	.byte 0x89
	.endif
	.if 0
	.if 1
	.byte 0x99
	.endif
	.endif
	.long 3 - 1 | 1, 2 * 3 + 1, (1 < 2), 1 && 2, -(1 > 0) * 5, 10 >> 1, -1 >> 60, 7 % 3, ~0, !0, 1 << 4 + 1
`);
  });

  it('emits data, strings, fills and alignment (NOP padding in code)', () => {
    sameAsGas(`
	.word 0x1234, -2
	.quad 0x123456789abcdef0
	.ascii "ab\\n\\t\\"c\\101"
	.asciz "z"
	.string "hello"
	.skip 3, 0xaa
	.fill 2, 4, 0x01020304
	.balign 8, 0xcc
	.p2align 4
	.byte 1
	.p2align 3,,2
	.byte 2
	.align 16
	.nops 7
	.org . + 3, 0x5a
	.byte 9
	.p2align 5
	int3
	.p2align 5
	.data
	.byte 1
	.p2align 3
	.byte 2
	.uleb128 0, 127, 128, 624485, 0xffffffffffffffff
	.sleb128 -1, 63, 64, -64, -65, -123456
`);
  });

  it('assembles ALTERNATIVE-style numeric labels, .pushsection and the relational .skip padding', () => {
    sameAsGas(`
.macro ALTERNATIVE oldinstr, newinstr, feature
140:
	\\oldinstr
141:
	.skip -(((144f-143f)-(141b-140b)) > 0) * ((144f-143f)-(141b-140b)),0x90
142:
	.pushsection .altinstructions,"a"
	.long 140b - .
	.long 143f - .
	.word \\feature
	.byte 142b-140b
	.byte 144f-143f
	.byte 142b-141b
	.popsection
	.pushsection .altinstr_replacement,"ax"
143:
	\\newinstr
144:
	.popsection
.endm
	.text
f:
	ALTERNATIVE "shl $(64 - 48), %rcx; sar $(64 - 48), %rcx", "shl $(64 - 57), %rcx; sar $(64 - 57), %rcx", 123
	ALTERNATIVE "", "movq %rax, %cr3", 7
	ALTERNATIVE "jmp .Lend", "xorl %eax, %eax; nop; jmp .Lend", 5
	.section .other, "ax", @progbits
	jmp f
	.previous
	nop
.Lend:
	ret
`);
  });

  it('handles what the kernel headers use: registers in .if, defaults with blanks in brackets, layout-dependent .fill', () => {
    sameAsGas(`
.macro HINT base=%rsp flags=((1 << 0) | (2))
	.if \\base == %rsp
	.byte 1, \\flags
	.elseif \\base == %rbp
	.byte 2
	.else
	.error "bad base register"
	.endif
.endm
	HINT
	HINT %rbp
	.rept 3
0:	jmp undefined_target
	.fill 0b + 16 - ., 1, 0xcc
	.endr
1:	jmp 2f
2:	.fill 1b + 8 - ., 1, 0xcc
	sysretl
	sysretq
`);
  });

  it('assembles a user program: .rodata, forward-defined sizes, RIP-relative data, .lcomm after .bss', () => {
    sameAsGas(`
	.section .rodata
msg:	.ascii "hello\\n"
len = . - msg
	.text
	.globl _start
_start:
	movl $len, %edx
	movq $len2, %rdx
	cmpq $len2, %rax
	cmpq $len, %rax
	leaq msg(%rip), %rsi
	movq buf(%rip), %rax
	movl $1, %eax
	syscall
	movl $60, %eax
	xorl %edi, %edi
	syscall
	.data
m2:	.asciz "x"
len2 = . - m2
	.lcomm buf, 64
	.lcomm buf2, 3
	.bss
	.skip 5
`);
  });

  it('relaxes jumps like gas at the short/near boundary, both directions', () => {
    sameAsGas(`
	.text
top:
	jmp 1f
	.skip 126, 0x90
1:	jmp 2f
	.skip 127, 0x90
2:	jmp 3f
	.skip 128, 0x90
3:	loop 3b
	jrcxz 3b
	jecxz 8f
8:	jne 4f
	.skip 127, 0x90
4:	jne 5f
	.skip 128, 0x90
5:	jne top
	jmp 5b
	.skip 100
	je 1b
	jmp 1b
	.skip 40
6:	jmp 7f
	jmp 7f
	.skip 124
7:	call top
	jmp undefined_elsewhere
	jz undefined_elsewhere
`);
  });

  it('lays out generated programs (jumps across aligned functions, ALTERNATIVE padding, local labels) like gas', () => {
    // A fixed-seed generator: many relaxable jumps whose reach depends on each other's sizes.
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const out = [
      '.macro ALT old, new',
      '140:', '\\old', '141:',
      '.skip -(((144f-143f)-(141b-140b)) > 0) * ((144f-143f)-(141b-140b)),0x90',
      '.pushsection .altinstructions,"a"', '.long 140b - .', '.long 143f - .', '.byte 141b-140b, 144f-143f', '.popsection',
      '.pushsection .altinstr_replacement,"ax"', '143:', '\\new', '144:', '.popsection',
      '.endm', '.text',
    ];
    const F = 40;
    for (let f = 0; f < F; f++) {
      out.push(`.globl fn${f}`, '.p2align 4, 0x90', `fn${f}:`);
      for (let i = 0; i < 12; i++) {
        switch (rnd(8)) {
          case 0: out.push(`\tjne fn${rnd(F)}`); break;
          case 1: out.push(`\tjmp fn${rnd(F)}`); break;
          case 2: out.push(`1:\ttestl $3, ${rnd(300)}(%rsp)`, '\tjz 1b'); break;
          case 3: out.push('\tALT "jmp .Lx' + f + '_' + i + '", ""', `.Lx${f}_${i}:`); break;
          case 4: out.push('\tALT "shl $16, %rcx", "shl $7, %rcx; sar $7, %rcx; nop"'); break;
          case 5: out.push(`\t.skip ${rnd(90)}, 0xcc`); break;
          case 6: out.push(`\tcall fn${rnd(F)}`); break;
          default: out.push(`\tleaq ${rnd(4000)}(%rdi,%rax,8), %rsi`, `\tjs 2f`, `\t.skip ${rnd(130)}`, '2:');
        }
      }
      out.push('\tret');
    }
    sameAsGas(out.join('\n') + '\n');
  });
});
