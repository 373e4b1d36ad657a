// Bundles every entry point with esbuild. iced-x86 loads its .wasm from __dirname, so the
// .wasm is copied next to the bundles. `--production` minifies and drops source maps.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, existsSync } from 'fs';
import { createRequire } from 'module';
import { dirname, join } from 'path';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
const entries = {
  extension: 'extension/extension.ts',
  debugAdapter: 'debug-adapter/main.ts',
  languageServer: 'language-server/server.ts',
  cli: 'cli/kentry.ts',
  bench: 'bench/bench.ts',
};

mkdirSync('dist', { recursive: true });
const present = Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file)));
await esbuild.build({
  entryPoints: present,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
});
copyFileSync(join(dirname(require.resolve('iced-x86')), 'iced_x86_bg.wasm'), 'dist/iced_x86_bg.wasm');
console.log(`built ${Object.keys(present).join(', ')} -> dist/`);
