/**
 * Safety: opening a workspace and debugging with the built-in emulator never runs workspace code.
 *  - no shell, compiler, socket or eval in extension/, debug-adapter/, language-server/, emulator/
 *    except the approved uses below (the QEMU engine, which the user picks explicitly);
 *  - a whole debug session on the emulator spawns nothing and opens no socket (stdio or in-process only);
 *  - Restricted Mode: package.json declares limited support, and the extension refuses the QEMU engine there.
 */
import { strict as assert } from 'assert';
import childProcess = require('child_process');
import * as fs from 'fs';
import net = require('net');
import * as path from 'path';
import Module = require('module');
import { KentryDebugSession } from '../../debug-adapter/session';
import { nodeFiles } from '../../debug-adapter/node-files';
import { REPO, SAMPLES } from '../support/paths';
import { InlineClient } from './inline-client';

/** File (relative to the repo) -> the risky capabilities it may use, and why. */
const APPROVED: Record<string, string[]> = {
  // engine: "qemu" in launch.json: starts qemu-system-x86_64 and talks to its gdb stub on localhost.
  'debug-adapter/engines/qemu/qemu-process.ts': ['child_process', 'net'],
  'debug-adapter/engines/qemu/gdb-remote.ts': ['net'],
};

const RISKY: [string, RegExp][] = [
  ['child_process', /\bfrom\s+['"](node:)?child_process['"]|require\(\s*['"](node:)?child_process['"]\s*\)/],
  ['net', /\bfrom\s+['"](node:)?(net|tls|dgram|http|https|http2)['"]|require\(\s*['"](node:)?(net|tls|dgram|http|https|http2)['"]\s*\)/],
  ['eval', /(^|[^.\w])eval\s*\(|new\s+Function\s*\(|\bfrom\s+['"](node:)?vm['"]/],
];

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(REPO, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs|cjs)$/.test(e.name))
    .map((e) => path.relative(REPO, path.join(e.parentPath, e.name)));
}

describe('safety: nothing from the workspace is executed', function () {
  this.timeout(60_000);

  it('no child_process, sockets or eval outside the approved QEMU engine files', () => {
    const found: string[] = [];
    for (const file of ['extension', 'debug-adapter', 'language-server', 'emulator'].flatMap(sources)) {
      const text = fs.readFileSync(path.join(REPO, file), 'utf8');
      for (const [what, re] of RISKY) {
        if (re.test(text) && !(APPROVED[file] ?? []).includes(what)) found.push(`${file}: ${what}`);
      }
    }
    assert.deepEqual(found, [], 'unapproved use: review it (does it run workspace code without an explicit option?) and add it to APPROVED with the reason');
  });

  it('emulator/ does no I/O of its own (no fs, no vscode): hosts inject file access', () => {
    const found = sources('emulator').filter((f) => /\bfrom\s+['"](node:)?(fs|fs\/promises|vscode)['"]|require\(\s*['"](node:)?(fs|vscode)['"]/.test(fs.readFileSync(path.join(REPO, f), 'utf8')));
    assert.deepEqual(found, []);
  });

  it('dependencies point one way: emulator/ imports nothing of the adapter, the language server or the extension; those two import nothing of the extension', () => {
    const imports = (f: string): string[] => [...fs.readFileSync(path.join(REPO, f), 'utf8').matchAll(/\bfrom\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g)]
      .map((m) => m[1] ?? m[2]).filter((spec) => spec.startsWith('.'))
      .map((spec) => path.relative(REPO, path.resolve(REPO, path.dirname(f), spec)));
    const found: string[] = [];
    const rules: [string, string[]][] = [['emulator', ['debug-adapter', 'language-server', 'extension']], ['debug-adapter', ['extension', 'language-server']], ['language-server', ['extension', 'debug-adapter']]];
    for (const [dir, forbidden] of rules) {
      for (const f of sources(dir)) for (const target of imports(f)) if (forbidden.some((x) => target === x || target.startsWith(x + '/'))) found.push(`${f} -> ${target}`);
    }
    assert.deepEqual(found, []);
  });

  it('a whole emulator debug session (launch, run to exit) spawns no process and opens no socket', async () => {
    const calls: string[] = [];
    const cp = childProcess as unknown as Record<string, unknown>;
    const names = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];
    const saved = names.map((n) => cp[n]);
    const savedConnect = net.Socket.prototype.connect;
    const savedServer = net.createServer;
    names.forEach((n) => { cp[n] = (...a: unknown[]) => { calls.push(`${n} ${String(a[0])}`); throw new Error('blocked by the safety test'); }; });
    net.Socket.prototype.connect = function (...a: unknown[]) { calls.push(`connect ${JSON.stringify(a[0])}`); throw new Error('blocked'); } as typeof savedConnect;
    (net as { createServer: unknown }).createServer = () => { calls.push('createServer'); throw new Error('blocked'); };
    const client = new InlineClient(new KentryDebugSession({ fs: nodeFiles, samplesDir: SAMPLES }));
    try {
      await client.send('initialize', { adapterID: 'kentry' }, 5000);
      const initialized = client.waitFor(['initialized'], 30_000);
      const ended = client.waitFor(['terminated'], 30_000);
      const launched = client.send('launch', {}, 30_000);
      await initialized;
      await client.send('configurationDone', {}, 5000);
      assert.equal((await launched)?.success, true);
      await ended;
      assert.ok(client.events.some((e) => e.event === 'terminated'), 'the program ran to its end');
      await client.send('disconnect', {}, 5000);
    } finally {
      names.forEach((n, i) => { cp[n] = saved[i]; });
      net.Socket.prototype.connect = savedConnect;
      (net as { createServer: unknown }).createServer = savedServer;
    }
    assert.deepEqual(calls, []);
  });

  it('package.json declares limited support for untrusted workspaces, with a description', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const u = pkg.capabilities?.untrustedWorkspaces;
    assert.equal(u?.supported, 'limited');
    assert.match(u?.description ?? '', /Restricted Mode.*QEMU engine.*trusted workspace/s);
  });

  describe('Restricted Mode in the extension', () => {
    const errors: string[] = [];
    // getConfiguration: `kentry.cpu` at its package.json default, as VS Code answers when it is unset.
    const fakeVscode = { workspace: { isTrusted: false, getConfiguration: () => ({ get: (key: string) => (key === 'cpu' ? 'intel' : undefined) }) }, window: { showErrorMessage: (m: string) => { errors.push(m); return Promise.resolve(undefined); }, activeTextEditor: undefined } };
    const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = M._load;
    let provider: { resolveDebugConfiguration(folder: unknown, config: Record<string, unknown>): unknown };
    before(() => {
      M._load = (request, ...rest) => (request === 'vscode' ? fakeVscode : load(request, ...rest));
      const { KentryConfigurationProvider } = require('../../extension/debug/configurationProvider');
      provider = new KentryConfigurationProvider();
    });
    after(() => { M._load = load; });

    it('refuses a QEMU launch in an untrusted workspace, with a message; the emulator launch goes through', () => {
      fakeVscode.workspace.isTrusted = false;
      assert.equal(provider.resolveDebugConfiguration(undefined, { type: 'kentry', request: 'launch', name: 'q', engine: 'qemu', qemuPath: './evil.sh' }), undefined);
      assert.match(errors[0] ?? '', /trust this workspace/);
      assert.deepEqual(provider.resolveDebugConfiguration(undefined, { type: 'kentry', request: 'launch', name: 'e' }), { type: 'kentry', request: 'launch', name: 'e', cpu: 'intel' });
    });

    it('allows the QEMU engine once the workspace is trusted', () => {
      fakeVscode.workspace.isTrusted = true;
      const c = { type: 'kentry', request: 'launch', name: 'q', engine: 'qemu' };
      assert.deepEqual(provider.resolveDebugConfiguration(undefined, c), c);
    });
  });
});
