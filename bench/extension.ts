/**
 * Extension activation and package size. Activation: dist/extension.js required and activate()
 * called in this process with a stand-in `vscode` module (every API a no-op), so the figure is the
 * extension's own cost (module load + activate), without VS Code. The e2e harness measures
 * activation in a real VS Code and leaves test-artifacts/activation.json: reported next to it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { createRequire } from 'module';
import Module = require('module');
import { add, skipped } from './report';
import { DIST, REPO } from './paths';

/** The names `vscode` exports (namespaces, classes, enums), from its type declarations. */
function vscodeExports(): string[] {
  const dts = fs.readFileSync(path.join(REPO, 'node_modules/@types/vscode/index.d.ts'), 'utf8');
  return [...new Set([...dts.matchAll(/^\s{1,4}export (?:namespace|class|enum|const|let|function) (\w+)/gm)].map((m) => m[1]))];
}

/** A `vscode` whose every member is a callable, constructible no-op returning another such member. */
function stubVscode(): unknown {
  const topLevel = vscodeExports();
  const make = (name: string): unknown => {
    const fn = function () { /* no-op */ };
    return new Proxy(fn, {
      get: (target, prop) => {
        if (prop === 'then') return undefined; // not a thenable
        if (prop === Symbol.toPrimitive) return () => name;
        if (prop === 'prototype') return Object.prototype;
        if (prop === 'isTrusted') return true;
        if (prop === 'textDocuments' || prop === 'workspaceFolders') return [];
        return make(`${name}.${String(prop)}`);
      },
      apply: () => make(`${name}()`),
      // esbuild's ESM interop copies the module's own keys: the top level lists vscode's exports.
      ownKeys: (target) => (name === 'vscode' ? [...topLevel, 'prototype'] : Reflect.ownKeys(target)),
      getOwnPropertyDescriptor: (target, prop) => (name === 'vscode' && typeof prop === 'string' && topLevel.includes(prop) ? { configurable: true, enumerable: true, value: make(`vscode.${prop}`) } : Reflect.getOwnPropertyDescriptor(target, prop)),
      construct: () => make(`new ${name}`) as object,
    });
  };
  return make('vscode');
}

export function benchActivation(): void {
  const file = path.join(DIST, 'extension.js');
  const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = M._load;
  const vscode = stubVscode();
  M._load = (request, ...rest) => (request === 'vscode' ? vscode : load(request, ...rest));
  try {
    const req = createRequire(file);
    const t0 = performance.now();
    const ext = req(file) as { activate(ctx: unknown): { activationMs?: number } };
    const t1 = performance.now();
    const context = { subscriptions: [] as unknown[], extensionPath: REPO, asAbsolutePath: (p: string) => path.join(REPO, p), extensionUri: vscode, globalState: vscode, workspaceState: vscode, logUri: vscode };
    const api = ext.activate(context);
    const t2 = performance.now();
    add({ name: 'extension activation (require dist/extension.js + activate, stub vscode)', value: t2 - t0, unit: 'ms', reference: t1 - t0, note: `reference: the require alone; activate() itself says ${api?.activationMs?.toFixed(1) ?? '?'} ms` });
  } catch (e) {
    skipped('extension activation (stub vscode)', (e as Error).message.split('\n')[0]);
  } finally {
    M._load = load;
  }
  const e2e = path.join(REPO, 'test-artifacts', 'activation.json');
  if (fs.existsSync(e2e)) {
    const a = JSON.parse(fs.readFileSync(e2e, 'utf8')) as { coldActivationMs?: number; activateFunctionMs?: number; vscodeVersion?: string; when?: string };
    add({ name: 'extension activation in a real VS Code (e2e harness)', value: a.coldActivationMs ?? NaN, unit: 'ms', reference: a.activateFunctionMs, note: `from test-artifacts/activation.json (VS Code ${a.vscodeVersion}, ${a.when}); reference: activate() alone` });
  }
}

export function benchVsix(): void {
  const vsix = path.join(REPO, 'kentry.vsix');
  if (!fs.existsSync(vsix)) {
    try {
      execFileSync('npm', ['run', '-s', 'package'], { cwd: REPO, stdio: 'ignore' });
    } catch (e) {
      return skipped('.vsix size', `npm run package failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const size = fs.statSync(vsix).size;
  // The last line of `unzip -l`: total unpacked bytes and the number of files.
  const [unpacked, count] = (execFileSync('unzip', ['-l', vsix], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '').trim().split(/\s+/);
  add({ name: '.vsix size', value: size / 2 ** 20, unit: 'MiB', note: `kentry.vsix: ${count} files, ${(Number(unpacked) / 2 ** 20).toFixed(1)} MiB unpacked` });
}
