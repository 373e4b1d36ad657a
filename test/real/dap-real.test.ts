/**
 * A user's session on the REAL Linux 6.1 (and 6.12) entry_64.S, over stdio with a DAP client against
 * dist/debugAdapter.js: break on entry_SYSCALL_64's `swapgs`, run to its `sysretq`, and read
 * pt_regs as the real PUSH_AND_CLEAR_REGS built it (and do_syscall_64's model filled ax).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { Dap, buildAdapter, num } from '../dap/dap-helpers';
import { entryOf, treeMissing } from './trees';

/** entry_SYSCALL_64's first and last line (SYM_CODE_START ... SYM_CODE_END). */
function entryRange(file: string): [number, number] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^SYM_CODE_START\(entry_SYSCALL_64\)/.test(l));
  const end = lines.findIndex((l, i) => i > start && /^SYM_CODE_END\(entry_SYSCALL_64\)/.test(l));
  return [start + 1, end + 1];
}

/** Line of the first `pattern` inside entry_SYSCALL_64. */
function lineInEntry(file: string, pattern: RegExp): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const [start, end] = entryRange(file);
  for (let i = start - 1; i < end; i++) if (pattern.test(lines[i])) return i + 1;
  throw new Error(`${pattern} not found in entry_SYSCALL_64 of ${file}`);
}

describe('DAP: the real Linux 6.1 entry_SYSCALL_64, swapgs to sysretq', function () {
  const file = entryOf('6.1');
  let d: Dap;
  before(function () {
    const why = treeMissing('6.1');
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    buildAdapter();
  });
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  it('stops on swapgs, then on sysretq with pt_regs filled from the user registers and getpid\'s result', async () => {
    const swapgs = lineInEntry(file, /^\s*swapgs\s*$/);
    const sysretq = lineInEntry(file, /^\s*sysretq\s*$/);
    const ev = await d.launch({ kernelEntry: file }, { breakpoints: [{ file, lines: [swapgs, sysretq] }] });
    assert.notEqual(ev, 'terminated', d.output.join(''));
    let top = (await d.frames())[0];
    assert.equal(top.source?.path, file);
    assert.equal(top.line, swapgs);
    const regs0 = await d.variables('Registers');
    assert.equal(regs0.get('cpl'), '0 (kernel mode)');
    const userRsp = num(regs0.get('rsp'));
    const userRip = num(regs0.get('rcx'));
    const userFlags = num(regs0.get('r11'));
    const nr = num(regs0.get('rax'));
    assert.equal(nr, 39n, 'the first syscall of hello is getpid');

    const ev2 = await d.continue();
    assert.notEqual(ev2, 'terminated', d.output.join(''));
    top = (await d.frames())[0];
    assert.equal(top.line, sysretq, `stopped at ${top.source?.path}:${top.line}`);
    const pt = await d.variables('pt_regs');
    assert.equal(num(pt.get('ss')), 0x2bn, 'pt_regs->ss = __USER_DS');
    assert.equal(num(pt.get('sp')), userRsp, 'pt_regs->sp = user RSP (parked in TSS sp2 first)');
    assert.equal(num(pt.get('flags')), userFlags, 'pt_regs->flags = R11 as SYSCALL left it');
    assert.equal(num(pt.get('cs')), 0x33n, 'pt_regs->cs = __USER_CS');
    assert.equal(num(pt.get('ip')), userRip, 'pt_regs->ip = RCX as SYSCALL left it');
    assert.equal(num(pt.get('orig_ax')), 39n, 'pt_regs->orig_ax = __NR_getpid');
    assert.equal(num(pt.get('ax')), 4242n, 'pt_regs->ax = getpid() from the do_syscall_64 model');
    assert.equal(num(pt.get('cx')), userRip, 'pt_regs->cx = user RIP');
    assert.equal(num(pt.get('r11')), userFlags, 'pt_regs->r11 = user RFLAGS');
    // About to SYSRET: RCX/R11/RSP hold what SYSRET needs, on the user page table (PTI) with GS swapped back.
    const regs = await d.variables('Registers');
    assert.equal(num(regs.get('rcx')), userRip);
    assert.equal(num(regs.get('r11')), userFlags);
    assert.equal(num(regs.get('rsp')), userRsp);
    const state = (await d.dc.customRequest('kentry/machineState')).body;
    assert.equal(state.cr3.half, 'user', 'SWITCH_TO_USER_CR3_STACK ran');
    assert.match(state.kernel.version, /^v6\.1\./);
    assert.ok(state.sysretChecks.every((c: { pass?: boolean }) => c.pass === true), JSON.stringify(state.sysretChecks));
  });
});

for (const version of ['6.1', '6.12']) {
  describe(`DAP: stepping the real Linux ${version} entry_SYSCALL_64 line by line`, function () {
    const file = entryOf(version);
    let d: Dap;
    before(function () {
      const why = treeMissing(version);
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      buildAdapter();
    });
    beforeEach(async () => {
      d = new Dap();
      await d.start();
    });
    afterEach(() => d.stop());

    it('next from swapgs reaches sysretq inside entry_SYSCALL_64, stepping over do_syscall_64, then ring 3 by SYSRET', async () => {
      const [first, last] = entryRange(file);
      const swapgs = lineInEntry(file, /^\s*swapgs\s*$/);
      const sysretq = lineInEntry(file, /^\s*sysretq\s*$/);
      const ev = await d.launch({ kernelEntry: file }, { breakpoints: [{ file, lines: [swapgs] }] });
      assert.notEqual(ev, 'terminated', d.output.join(''));
      const visited: number[] = [];
      for (let i = 0; i < 200; i++) {
        const top = (await d.frames())[0];
        assert.equal(top.source?.path, file, `step ${i} left the entry file: ${top.name} ${top.source?.path}:${top.line}`);
        assert.ok(top.line >= first && top.line <= last, `step ${i} at line ${top.line}, outside entry_SYSCALL_64 (${first}-${last})`);
        visited.push(top.line);
        if (top.line === sysretq) break;
        await d.stopped(() => d.dc.nextRequest({ threadId: 1 }));
      }
      assert.equal(visited[visited.length - 1], sysretq, `reached sysretq; lines: ${visited.join(' ')}`);
      assert.ok(visited.includes(lineInEntry(file, /call\s+do_syscall_64/)), 'stopped on the call of do_syscall_64');
      const pt = await d.variables('pt_regs');
      assert.equal(num(pt.get('orig_ax')), 39n);
      assert.equal(num(pt.get('ax')), 4242n);
      await d.stopped(() => d.dc.nextRequest({ threadId: 1 }));
      const regs = await d.variables('Registers');
      assert.equal(regs.get('cpl'), '3 (user mode)');
      assert.equal(num(regs.get('rax')), 4242n, 'getpid() in RAX after SYSRET');
    });
  });
}
