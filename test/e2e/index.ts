/**
 * Loaded by the VS Code extension host through extensionTestsPath (code-server runner and
 * @vscode/test-electron alike): runs the mocha suites next to it and resolves/rejects on the result.
 */
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60000, reporter: 'spec' });
  const dir = path.join(__dirname, 'suite');
  for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.test.js')) mocha.addFile(path.join(dir, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const s = runner.stats;
      const summary = { tests: s?.tests, passes: s?.passes, failures: s?.failures, pending: s?.pending };
      // The runner greps this line from the extension host's console.
      console.log('KENTRY_E2E_SUMMARY ' + JSON.stringify(summary));
      if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
      else resolve();
    });
  });
}
