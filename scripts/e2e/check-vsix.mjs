/* global console, process */
// Checks a packaged kentry.vsix: under 5 MB, carries what the extension runs and shows (bundles, the
// iced-x86 wasm, grammar, language configuration, samples, README, LICENSE), and none of the sources,
// tests or node_modules. Usage: node scripts/e2e/check-vsix.mjs [kentry.vsix]
import { statSync } from 'fs';
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const yauzl = require('yauzl'); // vsce's own zip reader
const file = process.argv[2] ?? 'kentry.vsix';
const MAX_BYTES = 5 * 1024 * 1024;

function entries(path) {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names = [];
      zip.on('entry', (e) => { names.push(e.fileName); zip.readEntry(); });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

const names = await entries(file);
const problems = [];
const size = statSync(file).size;
if (size >= MAX_BYTES) problems.push(`${file} is ${size} bytes, over 5 MB`);
const required = [
  'extension/package.json', 'extension/readme.md', 'extension/LICENSE.txt',
  'extension/dist/extension.js', 'extension/dist/debugAdapter.js', 'extension/dist/languageServer.js',
  'extension/dist/iced_x86_bg.wasm', 'extension/syntaxes/kentry-asm.tmLanguage.json',
  'extension/extension/language-configuration.json', 'extension/samples/.vscode/launch.json',
];
for (const r of required) if (!names.some((n) => n.toLowerCase() === r.toLowerCase())) problems.push(`missing ${r}`);
const forbidden = [/node_modules\//, /\.ts$/, /\.map$/, /^extension\/(test|emulator|debug-adapter|language-server|scripts)\//, /\.vscode-test/, /^extension\/out\//];
for (const n of names) for (const f of forbidden) if (f.test(n)) problems.push(`should not ship ${n}`);
if (!names.some((n) => /^extension\/samples\/.+\.S$/.test(n))) problems.push('no sample .S program');
console.log(`[vsix] ${file}: ${names.length} files, ${(size / 1024 / 1024).toFixed(2)} MB`);
for (const p of problems) console.log(`[vsix] FAIL ${p}`);
process.exit(problems.length ? 1 : 0);
