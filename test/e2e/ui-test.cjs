/* global require, process, console, document */
// Suite B driver: node ui-test.cjs <baseUrl> <workspace> <extensionPath|-> <seedFileName> <artifactsDir>
// extensionPath "-" tests the extension installed in code-server (suite C) instead of one under development.
// What a user does: open the seed entry_SYSCALL_64 file, hover `swapgs` (its annotation shows), click the
// gutter on the `swapgs` line, F5, and the editor stops there; then read CALL STACK, VARIABLES and each
// kentry view, open the stack diagram, stop with Shift+F5. Screenshots go to <artifactsDir>/ui-*.png.
const fs = require('fs');
const path = require('path');
const { launchBrowser, workbenchUrl, waitForDevelopmentHost } = require('./browser.cjs');

const [base, workspace, extensionPath, seedName, artifacts] = process.argv.slice(2);
const WAIT = Number(process.env.UI_TIMEOUT_MS || 30000);
const SHOT = (name) => path.join(artifacts, `${process.env.UI_SHOT_PREFIX || ''}${name}`);
const DEVELOPMENT = extensionPath !== '-';
const t0 = Date.now();
const log = (...a) => console.log(`[B ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const failures = [];
function check(name, ok, detail) {
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail !== undefined ? ': ' + JSON.stringify(detail).slice(0, 400) : ''}`);
  if (!ok) failures.push(name);
}
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The seed's `swapgs` line (1-based) and the first sentence of the comment block above it, read at run time. */
function seedFacts(text) {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim() === 'swapgs');
  if (i < 0) throw new Error('no swapgs line in the seed');
  let end = i - 1;
  while (end >= 0 && !lines[end].includes('*/')) end--;
  let start = end;
  while (start >= 0 && !lines[start].includes('/*')) start--;
  const comment = lines.slice(start + 1, end).map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean);
  // The first instruction after swapgs that uses %rsp (the entry code parks the user RSP next).
  const rsp = lines.findIndex((l, k) => k > i && /^\s*[a-z]+\s.*%rsp\b/.test(l));
  // Where the entry code passes pt_regs to do_syscall_64: the whole frame is written by then.
  const frame = lines.findIndex((l) => /^\s*movq\s+%rsp,\s*%rsi\b/.test(l));
  return { line: i + 1, annotation: comment[0], rspLine: rsp + 1, frameLine: frame + 1 };
}

const HOVER = '.monaco-hover:not(.hidden):visible, .debug-hover-widget:visible';
/** Hover a word until the hover widget's text matches (activation and the first hover can be late). */
async function hoverText(page, editor, word, want) {
  const end = Date.now() + WAIT;
  let text = '';
  while (Date.now() < end) {
    const span = editor.locator('.view-line span', { hasText: new RegExp(`^\\s*${escapeRe(word)}\\s*$|\\b${escapeRe(word)}\\b`) }).first();
    const box = await span.boundingBox();
    if (box) {
      const inner = await span.innerText();
      const charW = box.width / Math.max(1, inner.length);
      const x = box.x + (Math.max(0, inner.indexOf(word)) + word.length / 2) * charW;
      await page.mouse.move(5, 500);
      await page.mouse.move(x, box.y + box.height / 2, { steps: 4 });
      if (await page.locator(HOVER).first().waitFor({ state: 'visible', timeout: 2500 }).then(() => true, () => false)) {
        await page.waitForTimeout(400);
        text = (await page.locator(HOVER).allInnerTexts()).join(' | ');
        if (want.test(text)) return text;
      }
    }
    await page.waitForTimeout(300);
  }
  return text;
}

/**
 * Hover `token` (e.g. "%rsp") where it appears on the 1-based `line` (rendered), until the hover
 * matches `want`. Only that line: in a comment VS Code shows its own debug hover instead.
 */
async function hoverToken(page, editor, token, want, line) {
  const end = Date.now() + WAIT;
  let text = '';
  while (Date.now() < end) {
    const number = await editor.locator('.margin-view-overlays .line-numbers', { hasText: new RegExp(`^\\s*${line}\\s*$`) }).first().boundingBox().catch(() => null);
    const spans = editor.locator('.view-line span span', { hasText: token });
    const n = number ? await spans.count() : 0;
    for (let i = 0; i < n && Date.now() < end; i++) {
      const span = spans.nth(i);
      const box = await span.boundingBox().catch(() => null);
      if (!box || Math.abs(box.y + box.height / 2 - (number.y + number.height / 2)) > number.height / 2) continue;
      const inner = await span.innerText();
      const charW = box.width / Math.max(1, inner.length);
      const x = box.x + (inner.indexOf(token) + token.length / 2) * charW;
      await page.mouse.move(5, 500);
      await page.mouse.move(x, box.y + box.height / 2, { steps: 4 });
      if (await page.locator(HOVER).first().waitFor({ state: 'visible', timeout: 2500 }).then(() => true, () => false)) {
        await page.waitForTimeout(400);
        text = (await page.locator(HOVER).allInnerTexts()).join(' | ');
        if (want.test(text)) return text;
      }
    }
    await page.waitForTimeout(300);
  }
  return text;
}

/**
 * Focus the editor by clicking the middle of its text: its first rendered line can sit under the
 * breadcrumbs or the sticky-scroll header once the file is scrolled, where a click never lands.
 */
async function focusEditor(page, editor) {
  const b = await editor.boundingBox();
  await page.mouse.click(b.x + b.width / 2, b.y + b.height / 2);
}

/** Scroll the editor so that a 1-based line is rendered, and return its line-number element. */
async function revealLine(page, editor, line) {
  await focusEditor(page, editor);
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: WAIT });
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  const number = editor.locator('.margin-view-overlays .line-numbers', { hasText: new RegExp(`^\\s*${line}\\s*$`) }).first();
  await number.waitFor({ timeout: WAIT });
  return number;
}

function pane(page, title) {
  return page.locator('.pane', { has: page.locator('.pane-header', { hasText: new RegExp(`^\\s*${escapeRe(title)}\\s*`, 'i') }) }).first();
}

/** Collapse every other pane of the Run and Debug view so this one has room, expand it, read its text. */
async function readPane(page, title, shotName) {
  const headers = page.locator('.debug-viewlet .pane-header, .part.sidebar .pane-header');
  const n = await headers.count();
  for (let i = 0; i < n; i++) {
    const h = headers.nth(i);
    const label = (await h.innerText().catch(() => '')).trim();
    const expanded = (await h.getAttribute('aria-expanded')) === 'true';
    const isTarget = new RegExp(`^${escapeRe(title)}`, 'i').test(label);
    if (expanded !== isTarget) await h.click();
  }
  const p = pane(page, title);
  const body = p.locator('.pane-body');
  await body.locator('.monaco-list-row').first().waitFor({ timeout: WAIT });
  await page.waitForTimeout(400);
  const text = await body.innerText();
  if (shotName) await p.screenshot({ path: SHOT(shotName) });
  return text;
}

async function runCommand(page, editor, title) {
  await focusEditor(page, editor);
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: WAIT });
  await input.fill('>' + title);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: WAIT });
  await page.keyboard.press('Enter');
}

/** Text of the webview whose document contains `marker` (webviews are nested iframes). */
async function webviewText(page, marker) {
  const end = Date.now() + WAIT;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      const t = await f.evaluate(() => document.body?.innerText ?? '').catch(() => '');
      if (t.includes(marker)) return t;
    }
    await page.waitForTimeout(300);
  }
  return '';
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const seed = seedFacts(fs.readFileSync(path.join(workspace, seedName), 'utf8'));
  log(`seed: swapgs on line ${seed.line}; its annotation starts "${seed.annotation}"`);
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
  page.on('pageerror', (e) => log('[pageerror]', e.message));
  try {
    await page.goto(workbenchUrl(base, workspace, DEVELOPMENT ? [['extensionDevelopmentPath', extensionPath]] : []));
    if (DEVELOPMENT) await waitForDevelopmentHost(page);
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: seedName }).first();
    await row.waitFor({ timeout: 60000 });
    log('workbench ready:', await page.title());

    // 1. open the seed; it is a kentry-asm document (status bar language)
    await row.click();
    const editor = page.locator('.editor-group-container.active .monaco-editor').first();
    await editor.locator('.view-line').first().waitFor({ timeout: WAIT });
    // The language mode shows once the extension's language contribution is known (it can lag the editor).
    const lang = page.locator('[id="status.editor.mode"]');
    const isKentry = await lang.filter({ hasText: /kentry/i }).first().waitFor({ timeout: WAIT }).then(() => true, () => false);
    check('the seed opens as kentry assembly', isKentry, await lang.first().innerText().catch(() => ''));

    // 2. the annotation above `swapgs` is its hover (language server)
    await revealLine(page, editor, seed.line);
    const want = new RegExp(escapeRe(seed.annotation));
    const hover = await hoverText(page, editor, 'swapgs', want);
    check('hover on swapgs shows its annotation', want.test(hover), hover);
    await page.screenshot({ path: SHOT('ui-hover.png') });
    await page.mouse.move(5, 5);
    await page.keyboard.press('Escape');
    // The language server builds the file as the debugger does: nothing in the Problems count.
    const problems = await page.locator('[id="status.problems"]').first().innerText().catch(() => '?');
    check('the status bar counts no problems in the file', /^\D*0\D+0\D*$/.test(problems.trim()), problems);

    // 3. breakpoint: click the glyph margin of the swapgs line
    const number = await revealLine(page, editor, seed.line);
    const nb = await number.boundingBox();
    const gm = await editor.locator('.glyph-margin').first().boundingBox();
    await page.mouse.move(gm.x + gm.width / 2, nb.y + nb.height / 2);
    await page.waitForTimeout(200);
    await page.mouse.click(gm.x + gm.width / 2, nb.y + nb.height / 2);
    const bp = await editor.locator('.codicon-debug-breakpoint').first().waitFor({ timeout: WAIT }).then(() => true, () => false);
    check('gutter click sets a breakpoint', bp);

    // 4. F5 (the workspace's launch.json runs the bundled program through the seed) and stop on swapgs
    await focusEditor(page, editor);
    await page.keyboard.press('F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: WAIT });
    const stopped = await page.locator('.codicon-debug-stackframe').first().waitFor({ timeout: WAIT }).then(() => true, () => false);
    check('the session stops (current-line arrow)', stopped);
    if (stopped) {
      // The arrow is in the same row as the swapgs line number.
      const arrow = await page.locator('.codicon-debug-stackframe').first().boundingBox();
      const lineBox = await editor.locator('.margin-view-overlays .line-numbers', { hasText: new RegExp(`^\\s*${seed.line}\\s*$`) }).first().boundingBox().catch(() => null);
      check('the editor stops on the swapgs line', !!lineBox && Math.abs(arrow.y + arrow.height / 2 - (lineBox.y + lineBox.height / 2)) < lineBox.height / 2, { arrowY: arrow.y, lineY: lineBox?.y });
    }
    await page.screenshot({ path: SHOT('ui-stopped.png') });

    // 4b. while stopped, hovering %rsp adds its live value (the extension's hover, or VS Code's debug hover)
    await revealLine(page, editor, seed.rspLine);
    await page.keyboard.press('Escape');
    const wantLive = /Live value[\s\S]*%rsp[\s\S]*= 0x[0-9a-f]{16}/;
    const live = await hoverToken(page, editor, '%rsp', wantLive, seed.rspLine);
    check('hover on %rsp while stopped adds its live value to the language hover', wantLive.test(live), live);
    await page.screenshot({ path: SHOT('ui-hover-live.png') });
    await page.mouse.move(5, 5);
    await page.keyboard.press('Escape');

    // 5. Run and Debug: CALL STACK, VARIABLES, then each kentry view
    if (!(await page.locator('.pane-header', { hasText: /Call Stack/i }).count())) {
      await page.locator('.activitybar [aria-label^="Run and Debug"]').first().click();
    }
    const stack = await readPane(page, 'Call Stack');
    check('CALL STACK shows the seed file at the swapgs line', new RegExp(`${escapeRe(seedName)}[\\s\\S]*\\b${seed.line}:\\d`).test(stack), stack);
    const vars = await readPane(page, 'Variables', 'ui-variables.png');
    check('VARIABLES lists registers', /\brip\b/i.test(vars) && /\brsp\b/i.test(vars), vars);
    const views = [
      ['MSRs', /LSTAR[\s\S]*entry_SYSCALL_64/, 'ui-view-msrs.png'],
      ['Per-CPU & TSS', /TSS[\s\S]*sp2/, 'ui-view-percpu.png'],
      ['CR3 & Paging', /CR3[\s\S]*(user|kernel) half/, 'ui-view-paging.png'],
      ['pt_regs', /RSP\s*0x[0-9a-f]+[\s\S]*pt_regs[\s\S]*\bss\b/i, 'ui-view-ptregs.png'],
      ['SYSRET checks', /RCX/, 'ui-view-sysret.png'],
    ];
    for (const [title, re, shot] of views) {
      const text = await readPane(page, title, shot).catch((e) => `(${e.message.split('\n')[0]})`);
      check(`view "${title}"`, re.test(text), text);
      if (title === 'MSRs') {
        // The adapter declared setVariable: hovering a row shows the inline Edit Value (pencil) action.
        const lstar = pane(page, 'MSRs').locator('.monaco-list-row', { hasText: 'LSTAR' }).first();
        await lstar.hover().catch(() => undefined);
        const edit = await lstar.locator('.action-label[aria-label^="Edit Value"]').first().waitFor({ timeout: 5000 }).then(() => true, () => false);
        check('an MSR row offers Edit Value while the session runs', edit);
      }
    }

    // 5b. F10 steps over swapgs: the swapped GS base MSRs are marked as changed
    await readPane(page, 'MSRs');
    await focusEditor(page, editor);
    await page.keyboard.press('F10');
    const changed = await pane(page, 'MSRs').locator('.monaco-list-row', { hasText: /GS_BASE[\s\S]*← changed/ }).first()
      .waitFor({ timeout: WAIT }).then(() => true, () => false);
    check('after F10 over swapgs the GS base MSRs are marked changed', changed, await pane(page, 'MSRs').innerText().catch(() => ''));
    await pane(page, 'MSRs').screenshot({ path: SHOT('ui-view-msrs-after-swapgs.png') });

    // 6. the stack diagram webview
    await runCommand(page, editor, 'kentry: Show Stack Diagram');
    const diagram = await webviewText(page, 'Kernel task stack');
    check('stack diagram draws user, trampoline and kernel stacks', /User stack/.test(diagram) && /Trampoline stack/.test(diagram) && /Kernel task stack/.test(diagram), diagram);
    await page.screenshot({ path: SHOT('ui-stack-diagram.png') });

    // 6b. a breakpoint where pt_regs is complete (movq %rsp, %rsi), F5 to it: the pt_regs view and the
    //     stack diagram show the frame on the kernel stack
    if (seed.frameLine > 0) {
      const fnum = await revealLine(page, editor, seed.frameLine);
      const fb = await fnum.boundingBox();
      const fg = await editor.locator('.glyph-margin').first().boundingBox();
      await page.mouse.move(fg.x + fg.width / 2, fb.y + fb.height / 2);
      await page.waitForTimeout(200);
      await page.mouse.click(fg.x + fg.width / 2, fb.y + fb.height / 2);
      await page.keyboard.press('F5');
      // The current-line arrow moves to that line (the Call Stack pane may be collapsed by now).
      let atFrame = false;
      for (const end = Date.now() + WAIT; !atFrame && Date.now() < end; await page.waitForTimeout(300)) {
        const arrow = await editor.locator('.codicon-debug-stackframe').first().boundingBox().catch(() => null);
        const lb = await editor.locator('.margin-view-overlays .line-numbers', { hasText: new RegExp(`^\\s*${seed.frameLine}\\s*$`) }).first().boundingBox().catch(() => null);
        atFrame = !!arrow && !!lb && Math.abs(arrow.y + arrow.height / 2 - (lb.y + lb.height / 2)) < lb.height / 2;
      }
      check('F5 continues to the line that passes pt_regs to do_syscall_64', atFrame);
      const pt = await readPane(page, 'pt_regs', 'ui-view-ptregs-frame.png').catch((e) => `(${e.message.split('\n')[0]})`);
      check('pt_regs view: the frame is written (ip, cs, flags, sp, ss hold values)', /\bip\s*(← \w+\s*)*0x[0-9a-f]+[\s\S]*\bss\s*(← \w+\s*)*0x[0-9a-f]+/.test(pt) && !/\bip\s*— not written/.test(pt), pt);
      const framed = await webviewText(page, 'pt_regs at');
      check('stack diagram shows pt_regs on the kernel task stack', /Kernel task stack[\s\S]*pt_regs at/.test(framed), framed.slice(0, 400));
      await page.screenshot({ path: SHOT('ui-stack-diagram-frame.png') });
    }

    // 7. Shift+F5 ends the session; the kentry views empty with it
    await readPane(page, 'MSRs');
    await focusEditor(page, editor);
    await page.keyboard.press('Shift+F5');
    const ended = await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: WAIT }).then(() => true, () => false);
    check('Shift+F5 ends the session', ended);
    const msrRows = pane(page, 'MSRs').locator('.pane-body .monaco-list-row');
    const emptied = await msrRows.first().waitFor({ state: 'detached', timeout: WAIT }).then(() => true, () => false);
    check('the kentry views empty when the session ends', emptied, await pane(page, 'MSRs').innerText().catch(() => ''));
    await page.screenshot({ path: SHOT('ui-ended.png') });
  } catch (e) {
    log('ERROR', e.message.split('\n')[0]);
    failures.push('exception');
    await page.screenshot({ path: SHOT('ui-failure.png') }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  log(failures.length ? `UI TEST FAILED: ${failures.join(', ')}` : 'UI TEST PASSED');
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.error('[B] error', e); process.exit(2); });
