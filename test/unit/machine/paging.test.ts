import { strict as assert } from 'assert';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { PTE } from '../../../emulator/machine/facts/paging';
import { walk } from '../../../emulator/machine/paging';
import { KERNEL_CODE, KERNEL_DATA, KERNEL_STACK_TOP, USER_CODE, USER_STACK_TOP, enterKernel, hex, testMachine } from '../cpu/harness';

const USER_PAGE = USER_STACK_TOP - 0x1000n;
const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

describe('machine: paging and TLB', () => {
  it('user access to a supervisor page is #PF with P|U (read) and P|W|U (write)', () => {
    const { m } = testMachine({ user: `mov (%rbx), %rax\nmovq $1, (%rbx)\n` });
    m.state.gpr[3] = KERNEL_DATA;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF', r2s(r));
    if (r.kind !== 'exception') return;
    assert.equal(r.errorCode, 0x5);
    assert.equal(r.cr2, KERNEL_DATA);
    assert.equal(m.state.rip, USER_CODE, 'rolled back to the faulting instruction');
    m.state.rip = USER_CODE + 3n;
    const w = m.step();
    assert.ok(w.kind === 'exception' && w.errorCode === 0x7, r2s(w));
  });

  it('a not-present page gives an error code without P; instruction fetch from an NX page sets I', () => {
    const { m } = testMachine({ user: `mov (%rbx), %rax\n` });
    m.state.gpr[3] = 0x12345000n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.errorCode === 0x4, r2s(r));
    m.state.rip = USER_PAGE; // user stack page: NX
    const f = m.step();
    assert.ok(f.kind === 'exception' && f.name === '#PF' && f.errorCode === (0x1 | 0x4 | 0x10), r2s(f));
  });

  it('SMAP: ring 0 reading a user page faults with AC=0, works after stac, faults again after clac', () => {
    const { m } = testMachine({ kernel: `mov (%rbx), %rax\nstac\nmov (%rbx), %rax\nclac\nmov (%rbx), %rax\n` });
    enterKernel(m);
    m.writeVirtual(USER_PAGE, new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0]), { user: true });
    m.state.gpr[3] = USER_PAGE;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.errorCode === 0x1, r2s(r));
    assert.match(r.kind === 'exception' ? r.message : '', /SMAP/);
    m.state.rip += 3n;
    assert.equal(m.step().kind, 'ok'); // stac
    assert.equal(m.step().kind, 'ok'); // mov
    assert.equal(m.state.gpr[0], 0x2an);
    assert.equal(m.step().kind, 'ok'); // clac
    const again = m.step();
    assert.ok(again.kind === 'exception' && again.errorCode === 0x1, r2s(again));
  });

  it('SMEP: ring 0 cannot execute a user page', () => {
    const { m } = testMachine({ user: 'nop\n' });
    enterKernel(m);
    m.state.rip = USER_CODE;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#PF' && r.errorCode === 0x11 && /SMEP/.test(r.message), r2s(r));
  });

  it('CR0.WP: a supervisor write to a read-only page faults only while WP is set', () => {
    const { m } = testMachine({ kernel: 'movq $5, (%rbx)\n' });
    enterKernel(m);
    m.state.gpr[3] = KERNEL_CODE + 0x1000n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.errorCode === 0x3, r2s(r));
    m.state.cr0 &= ~(1n << 16n);
    assert.equal(m.step().kind, 'ok');
  });

  it('sets accessed and dirty bits like hardware; debugger reads do not', () => {
    const { m, pt } = testMachine({ kernel: 'mov (%rbx), %rax\nmov %rax, (%rbx)\n' });
    enterKernel(m);
    const page = KERNEL_DATA + 0x5000n;
    m.state.gpr[3] = page;
    const pte = pt.pteAddress(page);
    assert.equal(m.mem.readU64(pte) & (PTE.A | PTE.D), 0n);
    m.readVirtual(page, 8);
    assert.equal(m.mem.readU64(pte) & (PTE.A | PTE.D), 0n, 'debugger read: no A bit');
    m.step();
    assert.equal(m.mem.readU64(pte) & (PTE.A | PTE.D), PTE.A, 'read sets A only');
    m.step();
    assert.equal(m.mem.readU64(pte) & (PTE.A | PTE.D), PTE.A | PTE.D, 'write sets D (TLB entry was clean, so it re-walked)');
  });

  it('non-canonical data address: #GP(0), or #SS(0) for a stack access', () => {
    const { m } = testMachine({ kernel: 'mov (%rbx), %rax\npush %rax\n' });
    enterKernel(m);
    m.state.gpr[3] = 0x0000800000000000n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    m.state.rip += 3n;
    m.state.gpr[4] = 0x0000800000000008n;
    const p = m.step();
    assert.ok(p.kind === 'exception' && p.name === '#SS', r2s(p));
  });

  // The KPTI scenario: the PCID keeps a translation the page tables no longer have.
  function pcidScenario(noflush: boolean): bigint {
    const code = `
      mov (%rbx), %rax        # fill the TLB for PCID 1
      mov %rcx, %cr3          # same tables, PCID 1, maybe NOFLUSH
      mov (%rbx), %rdx
    `;
    const { m, pt } = testMachine({ kernel: code });
    enterKernel(m);
    const page = KERNEL_STACK_TOP - 0x4000n; // not global (at phys 0x500000)
    m.state.cr3 = pt.root | 1n;
    m.state.gpr[3] = page;
    m.mem.writeU64(0x500000n, 0xaaaan);
    m.mem.writeU64(0x501000n, 0xbbbbn);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 0xaaaan);
    // Repoint the PTE (no INVLPG): a stale TLB entry would still say 0x406000.
    const pte = pt.pteAddress(page);
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK) | 0x501000n);
    m.state.gpr[1] = pt.root | 1n | (noflush ? 1n << 63n : 0n);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.cr3, pt.root | 1n, 'bit 63 is not stored in CR3');
    assert.equal(m.step().kind, 'ok');
    return m.state.gpr[2];
  }

  it('MOV to CR3 with PCID and NOFLUSH keeps the stale translation', () => {
    assert.equal(hex(pcidScenario(true)), hex(0xaaaan));
  });

  it('MOV to CR3 without NOFLUSH flushes the PCID: the new PTE is used', () => {
    assert.equal(hex(pcidScenario(false)), hex(0xbbbbn));
  });

  it('INVLPG drops a stale translation (even a global one)', () => {
    const { m, pt } = testMachine({ kernel: 'mov (%rbx), %rax\ninvlpg (%rbx)\nmov (%rbx), %rax\n' });
    enterKernel(m);
    const page = KERNEL_DATA + 0x6000n;
    m.state.gpr[3] = page;
    m.mem.writeU64(0x406000n, 1n);
    m.mem.writeU64(0x407000n, 2n);
    m.step();
    const pte = pt.pteAddress(page);
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK & ~PTE.G) | 0x407000n);
    m.step();
    m.step();
    assert.equal(m.state.gpr[0], 2n);
  });

  it('global pages survive a CR3 write without NOFLUSH; INVPCID type 2 removes them', () => {
    const { m, pt } = testMachine({ kernel: 'mov (%rbx), %rax\nmov %rcx, %cr3\nmov (%rbx), %rax\ninvpcid (%rsi), %rdi\nmov (%rbx), %rax\n' });
    enterKernel(m);
    const page = KERNEL_DATA + 0x6000n; // mapped global by the harness
    m.state.gpr[3] = page;
    m.state.gpr[1] = pt.root | 2n;
    m.mem.writeU64(0x406000n, 1n);
    m.mem.writeU64(0x407000n, 2n);
    m.step();
    const pte = pt.pteAddress(page);
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK) | 0x407000n);
    m.step();
    m.step();
    assert.equal(m.state.gpr[0], 1n, 'global entry still used after switching to PCID 2');
    m.state.gpr[7] = 2n; // INVPCID type 2: all contexts including globals
    m.state.gpr[6] = KERNEL_DATA + 0x7000n; // a zeroed 16-byte descriptor
    assert.equal(m.step().kind, 'ok');
    m.step();
    assert.equal(m.state.gpr[0], 2n);
  });

  it('INVPCID is #UD on the AMD profile (no INVPCID)', () => {
    const { m } = testMachine({ kernel: 'invpcid (%rsi), %rdi\n', profile: CPU_PROFILES.amd });
    enterKernel(m);
    m.state.gpr[6] = KERNEL_DATA;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#UD', r2s(r));
  });

  it('walk() reports every level of a 4- and a 5-level walk without side effects', () => {
    const { m } = testMachine();
    const w = walk(m.state, m.mem, KERNEL_CODE);
    assert.deepEqual(w.levels.map((l) => l.name), ['PML4E', 'PDPTE', 'PDE', 'PTE']);
    assert.equal(w.phys, 0x200000n);
    assert.equal(w.user, false);
    assert.equal(w.nx, false);
    const t5 = testMachine({ profile: CPU_PROFILES['intel-la57'], levels: 5 }).m;
    const w5 = walk(t5.state, t5.mem, USER_CODE + 0x10n);
    assert.deepEqual(w5.levels.map((l) => l.name), ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE']);
    assert.equal(w5.phys, 0x300010n);
    const bad = walk(m.state, m.mem, 0x123456789000n);
    assert.match(bad.problem ?? '', /not present/);
  });

  it('LA57 widens the canonical range: 0x0000800000000000 is canonical only with 5-level paging', () => {
    const code = 'mov (%rbx), %rax\n';
    const four = testMachine({ kernel: code }).m;
    enterKernel(four);
    four.state.gpr[3] = 0x0000800000000000n;
    const r4 = four.step();
    assert.ok(r4.kind === 'exception' && r4.name === '#GP');
    const five = testMachine({ kernel: code, profile: CPU_PROFILES['intel-la57'], levels: 5 }).m;
    enterKernel(five);
    five.state.gpr[3] = 0x0000800000000000n;
    const r5 = five.step();
    assert.ok(r5.kind === 'exception' && r5.name === '#PF', r2s(r5));
  });

  it('2 MiB pages translate and set A/D in the PDE', () => {
    const { m, pt } = testMachine({ kernel: 'movq $7, (%rbx)\n' });
    enterKernel(m);
    // Map 0xffff888000000000 as a 2 MiB page at phys 0x800000 by hand.
    const linear = 0xffff888000000000n;
    pt.map(linear, 0x600000n); // builds the upper levels
    const pde = walk(m.state, m.mem, linear).levels[2].entryAddress;
    m.mem.writeU64(pde, 0x800000n | PTE.P | PTE.RW | PTE.PS);
    m.state.gpr[3] = linear + 0x12340n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.mem.readU64(0x812340n), 7n);
    assert.equal(m.mem.readU64(pde) & (PTE.A | PTE.D), PTE.A | PTE.D);
  });
});

describe('machine: MOV to CR3 without PCIDE', () => {
  it('bit 63 is reserved (#GP(0)) and any CR3 write flushes non-global entries', () => {
    const { m, pt } = testMachine({ kernel: 'mov (%rbx), %rax\nmov %rcx, %cr3\nmov %rdx, %cr3\nmov (%rbx), %rax\n', profile: CPU_PROFILES.amd });
    enterKernel(m);
    assert.equal(m.state.cr4 & (1n << 17n), 0n, 'AMD profile: no PCIDE');
    const page = KERNEL_STACK_TOP - 0x4000n; // not global, phys 0x500000
    m.mem.writeU64(0x500000n, 1n);
    m.mem.writeU64(0x501000n, 2n);
    m.state.gpr[3] = page;
    assert.equal(m.step().kind, 'ok');
    const pte = pt.pteAddress(page);
    m.mem.writeU64(pte, (m.mem.readU64(pte) & ~PTE.ADDR_MASK) | 0x501000n);
    m.state.gpr[1] = pt.root | (1n << 63n);
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    m.state.rip += 3n;
    m.state.gpr[2] = pt.root;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.cr3, pt.root);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 2n, 'the stale entry was flushed');
  });
});

describe('machine: INVPCID types 0, 1 and 3', () => {
  function setup() {
    const { m, pt } = testMachine({ kernel: 'invpcid (%rsi), %rdi\n' });
    enterKernel(m);
    const pages = [KERNEL_STACK_TOP - 0x4000n, KERNEL_STACK_TOP - 0x3000n];
    // Fill the TLB for two pages under PCID 1 and PCID 2 (architectural translations, as loads would do).
    for (const pcid of [1n, 2n]) {
      m.state.cr3 = pt.root | pcid;
      for (const p of pages) assert.ok(typeof m.translateOrThrow(p, { kind: 'read', user: false }) === 'bigint');
    }
    m.state.cr3 = pt.root | 1n;
    const desc = KERNEL_DATA + 0x7000n;
    return { m, pages, desc };
  }
  const cached = (m: ReturnType<typeof setup>['m']) => m.tlb.entries().filter((e) => !e.global).map((e) => `${e.pcid}:${hex(e.linear)}`).sort();

  it('type 0 drops one address of one PCID; type 1 all of one PCID; type 3 every non-global entry', () => {
    const t0 = setup();
    t0.m.writeVirtual(t0.desc, new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, ...new Uint8Array(new BigUint64Array([t0.pages[0]]).buffer)]));
    t0.m.state.gpr[6] = t0.desc;
    t0.m.state.gpr[7] = 0n;
    assert.equal(t0.m.step().kind, 'ok');
    assert.deepEqual(cached(t0.m), [`1:${hex(t0.pages[0])}`, `1:${hex(t0.pages[1])}`, `2:${hex(t0.pages[1])}`]);

    const t1 = setup();
    t1.m.writeVirtual(t1.desc, new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]));
    t1.m.state.gpr[6] = t1.desc;
    t1.m.state.gpr[7] = 1n;
    assert.equal(t1.m.step().kind, 'ok');
    assert.deepEqual(cached(t1.m), [`1:${hex(t1.pages[0])}`, `1:${hex(t1.pages[1])}`]);

    const t3 = setup();
    t3.m.state.gpr[6] = t3.desc;
    t3.m.state.gpr[7] = 3n;
    assert.equal(t3.m.step().kind, 'ok');
    assert.deepEqual(cached(t3.m), []);
    assert.ok(t3.m.tlb.entries().some((e) => e.global), 'globals (kernel text) survive type 3');
  });

  it('type 4 and a descriptor with bits 63:12 set are #GP(0)', () => {
    const t = setup();
    t.m.state.gpr[6] = t.desc;
    t.m.state.gpr[7] = 4n;
    const r = t.m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP', r2s(r));
    t.m.writeVirtual(t.desc, new Uint8Array([0, 0x10, 0, 0, 0, 0, 0, 0]));
    t.m.state.gpr[7] = 1n;
    const r2 = t.m.step();
    assert.ok(r2.kind === 'exception' && r2.name === '#GP', r2s(r2));
  });
});
