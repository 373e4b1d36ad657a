/* global console */
// Bundles the extension-host test suite (test/e2e/index.ts + suite/*.test.ts) to out/e2e/*.js,
// which the extension host loads through extensionTestsPath. `vscode` comes from the host and
// mocha from node_modules at run time.
import * as esbuild from 'esbuild';
import { readdirSync } from 'fs';

const suites = readdirSync('test/e2e/suite').filter((f) => f.endsWith('.test.ts'));
await esbuild.build({
  entryPoints: ['test/e2e/index.ts', ...suites.map((f) => `test/e2e/suite/${f}`)],
  outbase: 'test/e2e',
  outdir: 'out/e2e',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode', 'mocha'],
  sourcemap: true,
  logLevel: 'warning',
});
console.log(`built out/e2e: index.js + ${suites.length} suite file(s)`);
