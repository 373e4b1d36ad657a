/* global require, module, process, URL, document */
// Shared by the e2e drivers: headless Chromium (Debian's) through playwright-core from the cache,
// and the workbench URL whose `payload` turns code-server's VS Code into an extension development host.
const path = require('path');

const PW_DIR = process.env.PW_DIR || process.cwd();
const { chromium } = require(require.resolve('playwright-core', { paths: [PW_DIR] }));

const CHROME_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-quic',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROME_BIN || '/usr/bin/chromium', headless: true, args: CHROME_ARGS });
}

/**
 * The workbench URL. The extension URIs must use the page's own host:port as authority
 * (vscode-remote://127.0.0.1:PORT/...), else the development extension silently does not load.
 */
function workbenchUrl(base, folder, payloadEntries) {
  const authority = new URL(base).host;
  const remote = (p) => `vscode-remote://${authority}${path.resolve(p)}`;
  const payload = payloadEntries.map(([k, v]) => [k, /Path$/.test(k) ? remote(v) : v]);
  return `${base}/?folder=${encodeURIComponent(path.resolve(folder))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Fails fast when the workbench ignored the payload (code-server started without enable-smoke-test-driver). */
async function waitForDevelopmentHost(page, ms = 60000) {
  const ok = await page.waitForFunction(() => /Extension Development Host/.test(document.title), null, { timeout: ms }).then(() => true, () => false);
  if (!ok) throw new Error(`workbench is not an extension development host (title "${await page.title()}")`);
}

module.exports = { launchBrowser, workbenchUrl, waitForDevelopmentHost };
