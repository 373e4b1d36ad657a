import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { assemble } from '../../../emulator/asm';
import { preprocess } from '../../../emulator/asm/preprocess';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { GPR_INDEX } from '../../../emulator/machine/state';
import {
  GENERATED_DIR, KERNEL_PROFILES, bootSystem, runSystem, kernelTranslationUnits, resolveConfig, userTranslationUnit, withGeneratedHeaders,
} from '../../../emulator/kernel';
import { diskFiles, gnuAssemble, samplesDir, seedFile, tempDir } from './gnu-tools';

const profile = KERNEL_PROFILES['5.8'];

describe('kernel sources: translation units and generated headers', () => {
  const config = resolveConfig(profile);
  const fsx = withGeneratedHeaders(diskFiles, profile, config);

  it('the seed excerpt gets the prelude and the bundled return path; the bundled entry_64.S needs neither', () => {
    const seed = kernelTranslationUnits(seedFile, samplesDir, profile, config, fsx);
    assert.deepEqual(seed.map((u) => path.basename(u.file)), [path.basename(seedFile), 'return-to-usermode.S']);
    assert.ok(seed[0].preIncludes?.some((p) => p.endsWith('kentry/prelude.h')));
    assert.ok(!seed[1].preIncludes?.some((p) => p.endsWith('kentry/prelude.h')));
    const bundled = kernelTranslationUnits(`${samplesDir}/entry_64.S`, samplesDir, profile, config, fsx);
    assert.equal(bundled.length, 1);
    assert.deepEqual(bundled[0].preIncludes, [`${GENERATED_DIR}/generated/autoconf.h`]);
    // Without fs: the bundled file is taken as complete, anything else as an excerpt.
    assert.equal(kernelTranslationUnits(`${samplesDir}/entry_64.S`, samplesDir, profile, config).length, 1);
    assert.equal(kernelTranslationUnits(seedFile, samplesDir, profile, config).length, 2);
  });

  it('generated headers carry the facts: pt_regs and TSS offsets, selectors indices, CONFIG_ from the config', () => {
    const off = fsx.readFile(`${GENERATED_DIR}/generated/asm-offsets.h`) ?? '';
    assert.match(off, /#define RSP 152\b/);
    assert.match(off, /#define SIZEOF_PTREGS 168\b/);
    assert.match(off, /#define TSS_sp2 20\b/);
    assert.match(fsx.readFile(`${GENERATED_DIR}/generated/autoconf.h`) ?? '', /#define CONFIG_PAGE_TABLE_ISOLATION 1/);
    const noPti = withGeneratedHeaders(diskFiles, profile, resolveConfig(profile, { PAGE_TABLE_ISOLATION: false }));
    assert.doesNotMatch(noPti.readFile(`${GENERATED_DIR}/generated/autoconf.h`) ?? '', /PAGE_TABLE_ISOLATION/);
    assert.match(fsx.readFile(`${GENERATED_DIR}/generated/cpufeatures.h`) ?? '', /X86_FEATURE_PTI \(7\*32\+11\)/);
    assert.match(fsx.readFile(`${GENERATED_DIR}/generated/unistd_64.h`) ?? '', /__NR_getpid 39/);
  });

  it('kentry\'s preprocessor expands the unmodified seed with the prelude exactly as gcc -E does', () => {
    const [unit] = kernelTranslationUnits(seedFile, samplesDir, profile, config, fsx);
    const ours = preprocess({ ...unit, fs: fsx });
    assert.deepEqual(ours.diagnostics.filter((d) => d.severity === 'error'), []);
    // The same unit through gcc, with the generated headers on disk.
    const dir = tempDir();
    const gen = path.join(dir, 'gen');
    for (const h of ['autoconf.h', 'asm-offsets.h', 'kentry-constants.h', 'cpufeatures.h', 'unistd_64.h']) {
      fs.mkdirSync(path.join(gen, 'generated'), { recursive: true });
      fs.writeFileSync(path.join(gen, 'generated', h), fsx.readFile(`${GENERATED_DIR}/generated/${h}`) ?? '');
    }
    const gcc = execFileSync('gcc', ['-E', '-P', '-nostdinc', '-x', 'assembler-with-cpp', '-D__ASSEMBLY__=1', '-D__KERNEL__=1',
      `-I${samplesDir}/include`, `-I${gen}`, '-include', path.join(gen, 'generated/autoconf.h'), '-include', `${samplesDir}/include/kentry/prelude.h`, seedFile], { encoding: 'utf8' });
    const norm = (lines: string[]): string[] => lines.map((l) => l.replace(/\s+/g, '')).filter((l) => l.length > 0);
    assert.deepEqual(norm(ours.lines.map((l) => l.text)), norm(gcc.split('\n')));
  });

  it('kentry\'s preprocessor agrees with gcc -E on the bundled entry_64.S and return path, in every config variant', () => {
    const variants: Record<string, boolean>[] = [{}, { PAGE_TABLE_ISOLATION: false }, { X86_5LEVEL: true, GCC_PLUGIN_STACKLEAK: true, DEBUG_ENTRY: true }];
    for (const v of variants) {
      const cfg = resolveConfig(profile, v);
      const f = withGeneratedHeaders(diskFiles, profile, cfg);
      const dir = tempDir();
      const gen = path.join(dir, 'gen', 'generated');
      fs.mkdirSync(gen, { recursive: true });
      for (const h of ['autoconf.h', 'asm-offsets.h', 'kentry-constants.h', 'cpufeatures.h', 'unistd_64.h']) fs.writeFileSync(path.join(gen, h), f.readFile(`${GENERATED_DIR}/generated/${h}`) ?? '');
      for (const file of [`${samplesDir}/entry_64.S`, `${samplesDir}/kernel/return-to-usermode.S`]) {
        const ours = preprocess({ file, fs: f, includeDirs: [`${samplesDir}/include`, GENERATED_DIR], defines: { __ASSEMBLY__: '1' }, preIncludes: [`${GENERATED_DIR}/generated/autoconf.h`] });
        assert.deepEqual(ours.diagnostics.filter((d) => d.severity === 'error'), [], file);
        const gcc = execFileSync('gcc', ['-E', '-P', '-nostdinc', '-x', 'assembler-with-cpp', '-D__ASSEMBLY__=1', `-I${samplesDir}/include`, `-I${path.join(dir, 'gen')}`,
          '-include', path.join(gen, 'autoconf.h'), file], { encoding: 'utf8' });
        const norm = (lines: string[]): string[] => lines.map((l) => l.replace(/\s+/g, '')).filter((l) => l.length > 0);
        assert.deepEqual(norm(ours.lines.map((l) => l.text)), norm(gcc.split('\n')), `${file} ${JSON.stringify(v)}`);
      }
    }
  });

  it('the user program unit finds the syscall numbers in the generated headers', () => {
    const unit = userTranslationUnit(`${samplesDir}/user/hello.S`, samplesDir);
    const out = preprocess({ ...unit, fs: fsx });
    assert.deepEqual(out.diagnostics, []);
    assert.ok(out.lines.some((l) => /movl\s+\$39,\s*%eax/.test(l.text)));
  });
});

const tools = { assemble };
describe('the seed with kentry\'s own assembler', () => {
  it('assembles unmodified with the prelude, no errors, entry_SYSCALL_64 in .entry.text', () => {
    const config = resolveConfig(profile);
    const fsx = withGeneratedHeaders(diskFiles, profile, config);
    for (const unit of kernelTranslationUnits(seedFile, samplesDir, profile, config, fsx)) {
      const obj = tools.assemble({ ...unit, fs: fsx });
      assert.deepEqual(obj.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.loc.file}:${d.loc.line} ${d.message}`), []);
    }
    const seedObj = tools.assemble({ ...kernelTranslationUnits(seedFile, samplesDir, profile, config, fsx)[0], fs: fsx });
    assert.equal(seedObj.symbols.get('entry_SYSCALL_64')?.section, '.entry.text');
    assert.ok(seedObj.sections.has('.altinstructions'));
  });
});

describe('end to end with kentry\'s own assembler and linker', () => {
  const runs: [string, string, string][] = [];
  for (const cpu of ['intel', 'amd']) for (const [what, entry] of [['bundled entry_64.S', `${samplesDir}/entry_64.S`], ['the seed', seedFile]]) runs.push([what, entry, cpu]);
  for (const [what, entry, cpu] of runs) {
    it(`${what} on ${cpu}: getpid = 4242, write prints, exit_group ends; alternatives point at the entry file`, () => {
      const config = resolveConfig(profile);
      const fsx = withGeneratedHeaders(diskFiles, profile, config);
      const kernel = kernelTranslationUnits(entry, samplesDir, profile, config, fsx).map((u) => tools.assemble({ ...u, fs: fsx }));
      const user = tools.assemble({ ...userTranslationUnit(`${samplesDir}/user/hello.S`, samplesDir), fs: fsx });
      const sys = bootSystem({ profile, config, cpu: CPU_PROFILES[cpu], kernel, user });
      if ('errors' in sys) assert.fail(sys.errors.map((e) => `${e.loc.file}:${e.loc.line} ${e.message}`).join('\n'));
      let out = '';
      let pidSeen = false;
      const r = runSystem(sys, {
        console: (t) => (out += t),
        until: (s) => {
          if (s.machine.state.cpl === 3 && s.machine.state.gpr[GPR_INDEX.rax] === 4242n) pidSeen = true;
          return false;
        },
      });
      assert.equal(r.stop, 'exit', r.detail);
      assert.ok(pidSeen, 'RAX = 4242 back in user mode');
      assert.equal(out, 'Hello from ring 3, via entry_SYSCALL_64!\n');
      assert.ok(sys.kernelImage.lines.some((l) => l.loc.file === entry), 'the line table points into the entry file');
      const pti = sys.alternatives.find((a) => a.feature === 'PTI');
      assert.ok(pti?.loc && pti.alternativeAt);
      assert.equal(pti.loc.file, entry);
      assert.match(fs.readFileSync(entry, 'utf8').split('\n')[pti.loc.line - 1], /SWITCH_TO_KERNEL_CR3/);
      assert.match(pti.alternativeAt.file, /kentry\/calling\.h$/);
      assert.equal(pti.applied, cpu === 'intel');
    });
  }
});

describe('kentry\'s assembler produces the bytes GNU as produces for the kernel sources', () => {
  const variants: Record<string, boolean>[] = [{}, { PAGE_TABLE_ISOLATION: false }, { X86_5LEVEL: true, GCC_PLUGIN_STACKLEAK: true, DEBUG_ENTRY: true }];
  for (const v of variants) {
    it(`entry_64.S, return path, the seed and hello.S with config ${JSON.stringify(v)}`, () => {
      const config = resolveConfig(profile, v);
      const fsx = withGeneratedHeaders(diskFiles, profile, config);
      const units = [
        ...kernelTranslationUnits(`${samplesDir}/entry_64.S`, samplesDir, profile, config, fsx),
        ...kernelTranslationUnits(seedFile, samplesDir, profile, config, fsx),
        userTranslationUnit(`${samplesDir}/user/hello.S`, samplesDir),
      ];
      for (const unit of units) {
        const ours = assemble({ ...unit, fs: fsx });
        assert.deepEqual(ours.diagnostics.filter((d) => d.severity === 'error'), [], unit.file);
        const gnu = gnuAssemble(unit, profile, config);
        for (const [name, sec] of gnu.sections) {
          if (sec.bytes.length === 0) continue;
          assert.deepEqual([...(ours.sections.get(name)?.bytes ?? [])], [...sec.bytes], `${path.basename(unit.file)} ${name}`);
        }
        const relocs = (o: typeof gnu): string[] => o.relocations.map((r) => `${r.section}+${r.offset} ${r.kind} ${r.symbol}${r.addend}`).sort();
        assert.deepEqual(relocs(ours), relocs(gnu), `${path.basename(unit.file)} relocations`);
      }
    });
  }
});
