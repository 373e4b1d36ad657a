/**
 * Instruction encoding: every form the entry code and user programs use must come out byte for
 * byte as GNU as 2.40 (`as --64`) encodes it, including gas's choice among equivalent forms.
 */
import { strict as assert } from 'node:assert';
import { gas, hex, ours, compareWithGas } from './gas-helper';

/** Assemble `lines` with both assemblers; report the first instruction whose bytes differ. */
function expectSameAsGas(lines: string[]): void {
  const src = '.text\n' + lines.join('\n') + '\n';
  const obj = ours(src);
  assert.deepEqual(obj.diagnostics.map((d) => `${d.loc.line}: ${d.message}`), []);
  const g = gas(src).sections.get('.text') ?? new Uint8Array();
  const mine = obj.sections.get('.text')?.bytes ?? new Uint8Array();
  for (const l of obj.lines) {
    const a = hex(mine.subarray(l.offset, l.offset + l.size));
    const b = hex(g.subarray(l.offset, l.offset + l.size));
    assert.equal(a, b, `line ${l.loc.line} \`${l.text}\`: ours ${a}, gas ${b}`);
  }
  assert.equal(hex(mine), hex(g));
}

describe('asm: instruction encoding matches GNU as', () => {
  it('encodes the entry_SYSCALL_64 / swapgs_restore_regs_and_return_to_usermode instructions', () => {
    expectSameAsGas([
      'swapgs', 'sysretq', 'iretq', 'movq %rsp, %gs:0x6014', 'movq %gs:0x6014, %rsp', 'movq %rax, %cr3', 'movq %cr3, %rax', 'mov %cr3, %rdi',
      'pushq $0x2b', 'pushq $0x33', 'pushq $-38', 'pushq $0x1234', 'pushq %gs:0x6014', 'pushq %r11', 'pushq %rcx', 'pushq (%rdi)', 'pushq 0x98(%rdi)', 'pushq -8(%rdi)',
      'popq %rdi', 'popq %rsp', 'popq %r15', 'popq (%rax)', 'movq %rax, %rdi', 'movq 0x58(%rsp), %rcx', 'movq 0x80(%rsp), %r11', 'movq %rsp, %rdi',
      'cmpq %rcx, %r11', 'cmpq $0x33, 0x88(%rsp)', 'cmpq %r11, 0x90(%rsp)', 'shl $16, %rcx', 'sar $16, %rcx', 'shr $3, %eax', 'shl $1, %rcx', 'shl %rcx', 'sar %cl, %rax', 'shlq (%rax)',
      'testq $0x10100, %r11', 'testb $1, %al', 'testl $0x1, 0x8(%rsp)', 'testq %rax, %rax', 'testl $3, 0x88(%rsp)',
      'xorl %eax, %eax', 'xorl %r8d, %r8d', 'xorq %rax, %rax', 'andq $-8, %rsp', 'andl $0xfffffff0, %eax', 'andl $0xffffff00, %eax', 'orq $0x1000, %rax', 'orq $0x1800, %rdi',
      'addq $8, %rsp', 'subq $0x1000, %rsp', 'addl $0x1000, %eax', 'add $1, %al', 'adc $1, %al', 'sbbq %rax, %rax', 'sub %eax, %eax', 'xorw %ax, %ax',
      'btq $63, %rax', 'btsq $63, %rax', 'btrq $63, %rax', 'bt %rax, %rbx', 'btsl $1, (%rax)',
      'leaq 8(%rsp), %rax', 'leaq -8(%rbp,%rax,4), %rdx', 'lea (%rax), %rax', 'leaq 0x10(,%rbx,8), %rcx',
      'xchg %rax, %rbx', 'xchg %rbx, %rcx', 'xchg %rcx, %rax', 'xchg %eax, %eax', 'xchgq %rax, (%rbx)',
      'nop', 'nopl 0x0(%rax)', 'nopw 0x0(%rax,%rax,1)', 'nopl 0x0(%rax,%rax,1)', 'int3', 'ud2', 'hlt', 'cli', 'sti', 'pushfq', 'popfq', 'cld', 'std', 'lfence', 'mfence', 'sfence',
      'negq %rax', 'notq %rax', 'incq %rax', 'decl %eax', 'incl (%rax)', 'incb %al', 'decq 8(%rsp)',
      'movzbl %al, %eax', 'movzbl (%rax), %eax', 'movzwl %ax, %eax', 'movzwl (%rax), %ecx', 'movzbq %al, %rax', 'movslq %eax, %rax', 'movslq (%rdi), %rax', 'movsbl %al, %eax', 'movswq (%rsi), %rdx',
      'syscall', 'stac', 'clac', 'verw (%rax)', 'verw %ax', 'wrmsr', 'rdmsr', 'cpuid', 'rdtsc', 'rdtscp', 'invpcid (%rax), %rcx', 'endbr64', 'pause', 'leave',
      'jmp *%rax', 'jmp *(%rax)', 'call *%rax', 'call *0x10(%rax)', 'call *(%rax,%rbx,8)', 'ret', 'retq',
    ]);
  });

  it('picks gas\'s immediate and displacement sizes', () => {
    expectSameAsGas([
      'movl $1, %eax', 'movl $0xffffffff, %eax', 'movq $1, %rax', 'movq $-1, %rax', 'mov $0xffffffff, %rax', 'movabsq $0x123456789, %rax',
      'movb $1, %al', 'movb $0xff, (%rax)', 'movw $1, %ax', 'movw %ax, %gs:(%rax)', 'movq $0, %gs:0x10',
      'movl %eax, (%rbp)', 'movl %eax, (%r13)', 'movl %eax, (%r12)', 'movl %eax, (%rsp)', 'movl %eax, 0x100(%rsp)', 'movl %eax, 0x7f(%rsp)', 'movl %eax, -0x80(%rsp)', 'movl %eax, -0x81(%rsp)', 'movl %eax, 0x12345678',
      'movq %rax, (,%rbx,8)', 'movq 8(,%rbx,8), %rax', 'movq %r12, 0x10(%r13,%r14,2)', 'movl 0(%rax), %eax', 'movl (%eax), %eax',
      'mov %ss, %eax', 'mov %eax, %ds', 'cmpb $0, (%rax)', 'cmpl $5, %eax', 'cmp $300, %eax', 'cmp $-129, %rax', 'cmp $127, %rax', 'cmp $128, %rax',
      'imul $10, %rax, %rbx', 'imulq %rbx, %rax', 'sete %al', 'setnz %al', 'cmovne %rbx, %rax', 'cmovz %rbx, %rax', 'cqto', 'cltq', 'cltd',
      'lock incl (%rax)', 'lock; incl (%rax)', 'rep movsb', 'movq 0x10(%rip), %rax', 'leaq -4(%rip), %rcx',
    ]);
  });

  it('encodes system, segment, string and less common instructions as gas does', () => {
    expectSameAsGas([
      'wrgsbase %rdi', 'rdgsbase %rax', 'wrfsbase %rax', 'rdpid %rax', 'invlpg (%rax)', 'wbinvd', 'clflush (%rdi)', 'cmpxchg %rbx, (%rdi)', 'lock cmpxchgq %rbx, (%rdi)',
      'lock xaddq %rax, 8(%rdx)', 'cmpxchg8b (%rdi)', 'cmpxchg16b (%rdi)', 'bswap %eax', 'bswapq %rax', 'bsfq %rax, %rbx', 'popcnt %rax, %rbx', 'tzcnt %rax, %rbx',
      'mulq %rbx', 'divq (%rsp)', 'idivl %ecx', 'imull %ecx', 'enter $16, $0', 'enter $1000, $3', 'lgdt (%rax)', 'sgdt (%rax)', 'lidt (%rax)', 'ltr %ax', 'str %ax',
      'movw %ax, %ds', 'movw %ds, %ax', 'mov %ds, %rax', 'mov %ds, %r8', 'movw %ds, (%rax)', 'mov %ds, (%rax)', 'mov (%rax), %ds', 'mov %eax, %ss', 'movw %ds, sym', 'pushq %fs', 'popq %gs',
      'fxsave (%rdi)', 'xsave (%rdi)', 'xgetbv', 'monitor', 'mwait', 'movq %rax, %xmm0', 'movq %xmm0, %rax', 'pxor %xmm0, %xmm0',
      'int $0x80', 'int $3', 'iret', 'iretl', 'lret', 'lretq', 'sysenter', 'sysretl', 'movsq', 'rep stosq', 'repne scasb', 'cmpsb', 'lodsq', 'stosb',
      'movabs 0x1122334455667788, %al', 'movabs %rax, 0x1122334455667788', 'rolq $3, %rax', 'rorl %cl, %eax', 'rcl %rax', 'shldq $4, %rbx, %rax', 'shrdl %cl, %ebx, %eax',
      'btcq $5, (%rdi)', 'setae (%rax)', 'cmovbe (%rax), %ecx', 'xchgw %ax, %bx', 'movsbw %al, %ax', 'movzbw (%rax), %bx', 'cwtd', 'cbtw', 'sahf', 'clc', 'cmc',
      'nopw %cs:0x0(%rax,%rax,1)', 'int1', 'pushw $1', 'pushw %ax', 'pushf', 'popf', 'movl %eax, %fs:0x28', 'addr32 movl (%eax), %eax', 'movl (%eax,%ebx,4), %ecx',
      'jmp *%gs:0x10', 'call *8(%rsp)', 'jmpq *(%rax)', 'callq *%rax', 'testq %rax, (%rbx)', 'testq (%rbx), %rax', 'xor %ah, %bh', 'movb %sil, %al',
    ]);
  });

  it('emits gas\'s relocations for symbols: 32S/32/PC32/PLT32/64', () => {
    const src = [
      '.text', '.globl gfn', 'gfn:', 'call undef', 'jmp undef', 'jne undef', 'call gfn', 'jmp gfn', 'call lfn', 'lfn: ret',
      'movq $sym, %rax', 'movl $sym, %eax', 'pushq $sym', 'leaq sym(%rip), %rax', 'movq sym+8(%rip), %rax', 'movq %gs:sym, %rax', 'movq %rax, %gs:sym+8', 'movq sym(,%rax,8), %rax',
      'cmpq $sym, 8(%rsp)', 'movabsq $sym, %rax',
      '.data', '.quad gfn, lfn+4, undef-8', '.long lfn - .', '.long sym', '.word sym', '.byte sym',
    ].join('\n');
    assert.deepEqual(compareWithGas(ours(src), gas(src)), []);
  });

  it('treats hidden, weak and locally aliased symbols like gas', () => {
    const src = ['.globl h', '.hidden h', 'h: ret', 'call h', 'movq h(%rip), %rax', 'jmp h', '.weak w', 'w: ret', 'call w', 'jmp w', '.set al, h', 'call al', 'jmp al', '.long h - .', '.set ext_alias, somewhere_else', 'call ext_alias'].join('\n');
    assert.deepEqual(compareWithGas(ours(src), gas(src)), []);
  });
});
