/**
 * Every instruction in the real kernels' entry objects - entry_64.o with its
 * .altinstr_replacement code, and the thunk/retpoline objects when built - is one kentry executes.
 * The objects come from the Debian linux-source trees scripts/linux-trees.sh prepares under
 * .cache/linux (read at test time, nothing committed); entry_64.o is built there if missing.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Decoder, DecoderOptions } from 'iced-x86';
import { isImplemented } from '../../../emulator/cpu/exec';

const TREES = path.resolve(__dirname, '../../../.cache/linux');
const OBJECTS = ['arch/x86/entry/entry_64.o', 'arch/x86/entry/thunk_64.o', 'arch/x86/entry/thunk.o', 'arch/x86/lib/retpoline.o'];

/**
 * The instructions of an object's executable sections, from objdump -d -w. Where objdump prints
 * a fragment (".byte", "rex.W": a symbol starts inside the instruction, as in the deliberately
 * overlapping retbleed/SRSO untrain sequences), the instruction is decoded from that address
 * through the following bytes, as the CPU would after a jump there.
 */
function instructions(obj: string): Array<[Uint8Array, string]> {
  const out: Array<[Uint8Array, string]> = [];
  const text = execFileSync('objdump', ['-d', '-w', obj], { maxBuffer: 1 << 26 }).toString();
  let section = new Map<number, number>();
  const pending: Array<[Map<number, number>, number, string]> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('Disassembly of section')) { section = new Map(); continue; }
    const m = /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
    if (!m) continue;
    const addr = parseInt(m[1], 16);
    const bytes = m[2].trim().split(' ').map((h) => parseInt(h, 16));
    bytes.forEach((b, i) => section.set(addr + i, b));
    const insn = m[3].trim();
    if (insn === '' ) continue; // continuation of a long instruction's bytes
    if (/^(\.byte|rex|\(bad\))/.test(insn)) pending.push([section, addr, insn]);
    else out.push([Uint8Array.from(bytes), insn]);
  }
  for (const [sec, addr, insn] of pending) {
    const bytes: number[] = [];
    for (let i = 0; i < 15 && sec.has(addr + i); i++) bytes.push(sec.get(addr + i) as number);
    out.push([Uint8Array.from(bytes), `${insn} at 0x${addr.toString(16)} (decoded through the following bytes)`]);
  }
  return out;
}

describe('cpu: every instruction of the real Linux entry objects is implemented', function () {
  for (const version of ['6.1', '6.12']) {
    const tree = path.join(TREES, `linux-source-${version}`);
    it(`Linux ${version}: entry_64.o (with ALTERNATIVE replacements), thunks, retpolines`, function () {
      if (!fs.existsSync(path.join(tree, 'include/generated/asm-offsets.h'))) this.skip();
      this.timeout(600_000);
      if (!fs.existsSync(path.join(tree, OBJECTS[0]))) {
        const r = spawnSync('nice', ['-n', '10', 'make', '-s', OBJECTS[0]], { cwd: tree, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
        assert.equal(r.status, 0, `make ${OBJECTS[0]} in ${tree}: ${r.stderr.slice(-2000)}`);
      }
      const missing = new Map<string, string>();
      let count = 0;
      for (const rel of OBJECTS) {
        const obj = path.join(tree, rel);
        if (!fs.existsSync(obj)) continue;
        for (const [bytes, text] of instructions(obj)) {
          const dec = new Decoder(64, bytes, DecoderOptions.None);
          const ins = dec.decode();
          count++;
          if (!isImplemented(ins.code, ins.mnemonic)) missing.set(text.split(/\s+/)[0], `${rel}: ${text}`);
          ins.free();
          dec.free();
        }
      }
      assert.ok(count > 1000, `only ${count} instructions found`);
      assert.deepEqual([...missing.values()], []);
    });
  }
});
