/* global require, process, console, setTimeout */
// Suite A driver: node run-extension-tests.cjs <baseUrl> <workspace> <extensionPath> <extensionTestsPath.js> [timeoutSec]
// Opens the code-server workbench with extensionDevelopmentPath + extensionTestsPath in the payload;
// the extension host then require()s the tests and calls run(), as @vscode/test-electron does.
// The workbench reports the result through window.codeAutomationExit(code) and forwards the extension
// host's console (mocha's reporter) through window.codeAutomationLog(type, args).
const util = require('util');
const { launchBrowser, workbenchUrl, waitForDevelopmentHost } = require('./browser.cjs');

const [base, workspace, extensionPath, testsPath, timeoutSec = '300'] = process.argv.slice(2);
// Workbench chatter that says nothing about kentry (offline machine, no GitHub account, sockets).
const NOISE = /AgentHost|ChatModelSelection|Canceled|ENOTFOUND|vsda|open-vsx|authentication provider|AccountPolicyGate|Creating a socket|connection token|grace time|builtin extensions cache|Service Worker|^\s+at /;

async function main() {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    let summary;
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      let line = util.format(...(Array.isArray(args) ? args : [args]));
      // Workbench errors carry long browser stack traces; the first line says what happened.
      if (!process.env.VERBOSE && /\n\s+at /.test(line)) line = line.slice(0, line.search(/\n\s+at /));
      const m = /KENTRY_E2E_SUMMARY (\{.*\})/.exec(line);
      if (m) summary = JSON.parse(m[1]);
      if (process.env.VERBOSE || !NOISE.test(line)) console.log(line);
    });
    await page.exposeFunction('codeAutomationExit', (code) => finish({ code }));
    page.on('console', (m) => {
      // The workbench says so when it cannot start the test run at all; waiting longer would not help.
      if (/No extension host found that can launch the test run|Cannot load test runner/.test(m.text())) finish({ code: 4, why: m.text() });
      else if (process.env.VERBOSE) console.log(`[page] ${m.text()}`);
    });
    page.on('pageerror', (e) => console.log('[pageerror]', e.message));
    await page.goto(workbenchUrl(base, workspace, [['extensionDevelopmentPath', extensionPath], ['extensionTestsPath', testsPath]]));
    await waitForDevelopmentHost(page);
    const timer = new Promise((resolve) => setTimeout(() => resolve({ code: 124, why: `no result after ${timeoutSec}s` }), Number(timeoutSec) * 1000));
    const result = await Promise.race([finished, timer]);
    console.log(`[A] exit ${result.code}${result.why ? ` (${result.why})` : ''}; summary ${JSON.stringify(summary ?? 'none')}`);
    // A run that reports success must have run tests: guards against a suite that silently loaded nothing.
    if (result.code === 0 && !(summary && summary.tests > 0)) return 5;
    return result.code === 0 ? 0 : result.code || 1;
  } finally {
    await browser.close();
  }
}

main().then((code) => process.exit(code), (e) => { console.error('[A] error', e); process.exit(2); });
