/**
 * The same extension-host suite on a downloaded desktop VS Code, for machines with network access
 * (@vscode/test-electron). Usage: npm run build && node scripts/e2e/build-suite.mjs && npx tsx test/e2e/electron.ts
 * The workspace is prepared as scripts/e2e.sh does: a temp folder with a copy of the seed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runTests } from '@vscode/test-electron';

const repo = path.resolve(__dirname, '../..');
const SEED = 'entry_SYSCALL_64.v5.8.13.annotated.S';

function prepareWorkspace(): string {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-e2e-'));
  fs.mkdirSync(path.join(ws, '.vscode'));
  fs.copyFileSync(path.resolve(repo, '../shared/seed', SEED), path.join(ws, SEED));
  fs.copyFileSync(path.join(repo, 'test/e2e/workspace/.vscode/launch.json'), path.join(ws, '.vscode/launch.json'));
  return ws;
}

async function main(): Promise<void> {
  const workspace = prepareWorkspace();
  try {
    await runTests({
      version: process.env.VSCODE_VERSION ?? 'stable',
      extensionDevelopmentPath: repo,
      extensionTestsPath: path.join(repo, 'out/e2e/index.js'),
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    });
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('e2e (electron) failed:', e instanceof Error ? e.message : e);
  process.exit(1);
});
