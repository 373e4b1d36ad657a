/** A MachineStateView as the adapter sends it just after `pushq %rcx` built pt_regs->ip. */
import type { MachineStateView } from '../../../debug-adapter/protocol';

export function stateAfterPushIp(): MachineStateView {
  const slot = (field: string, asmName: string, offset: number, filled: boolean, value = '0x0') => ({
    field,
    asmName,
    offset,
    address: '0x' + (0xffffc90000003f58n + BigInt(offset)).toString(16),
    value,
    filled,
    changed: false,
    doc: `pt_regs->${field}`,
  });
  const fields = [
    slot('r15', 'R15', 0, false),
    slot('orig_ax', 'ORIG_RAX', 120, false),
    { ...slot('ip', 'RIP', 128, true, '0x401005'), changed: true, writtenBy: { address: '0xffffffff81a00040', file: '/ws/entry.S', line: 50, text: '\tpushq\t%rcx' } },
    slot('cs', 'CS', 136, true, '0x33'),
    slot('flags', 'EFLAGS', 144, true, '0x246'),
    slot('sp', 'RSP', 152, true, '0x7ffffffde000'),
    slot('ss', 'SS', 160, true, '0x2b'),
  ];
  return {
    stopCount: 7,
    cpl: 0,
    rip: '0xffffffff81a00041',
    where: 'kernel entry code (entry_SYSCALL_64)',
    msrs: [
      { name: 'IA32_LSTAR', number: '0xc0000082', value: '0xffffffff81a00000', decoded: 'entry_SYSCALL_64', doc: 'SYSCALL target', changed: false },
      { name: 'IA32_GS_BASE', number: '0xc0000101', value: '0xffff88807fc00000', decoded: 'per-CPU area', doc: 'GS base', changed: true },
    ],
    tss: [
      { name: 'cpu_tss_rw.x86_tss.sp0', address: '0xfffffe0000003004', value: '0xfffffe0000003000', decoded: 'trampoline stack top', doc: '', changed: false },
      { name: 'cpu_tss_rw.x86_tss.sp2', address: '0xfffffe0000003014', value: '0x7ffffffde000', decoded: 'user RSP', doc: '', changed: true },
    ],
    perCpu: [{ name: 'cpu_current_top_of_stack', address: '0xffff88807fc16014', value: '0xffffc90000004000', decoded: '', doc: '', changed: false }],
    cr3: { value: '0x1000', pgd: '0x1000', pcid: undefined, half: 'kernel', pti: true, noflush: false, explanation: 'kernel page tables', changed: true },
    controlRegisters: [
      { name: 'CR0', value: '0x80050033', decoded: 'PE MP ET NE WP AM PG', changed: false },
      { name: 'CR3', value: '0x1000', decoded: '', changed: true },
      { name: 'CR4', value: '0x3606f0', decoded: 'PAE PGE', changed: false },
    ],
    ptRegs: { base: fields[0].address, rsp: fields[2].address, rspOn: 'kernel task stack', fields },
    sysretChecks: [
      { condition: 'RCX == RIP', operands: 'rcx=0x401005 rip=0x401005', pass: true },
      { condition: 'CS == __USER_CS', operands: '', pass: undefined },
    ],
    kernel: { version: '5.8.13', cpu: 'intel', config: {} },
  };
}
