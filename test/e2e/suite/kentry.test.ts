/**
 * Runs inside a real VS Code extension host (scripts/e2e.sh suite A): the extension activates,
 * a kentry session on the seed entry_SYSCALL_64 stops on the `swapgs` breakpoint, and the views
 * show the machine state the adapter reports.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { MACHINE_STATE_REQUEST, MachineStateView, PageWalkResult } from '../../../debug-adapter/protocol';
import type { KentryExtensionApi } from '../../../extension/extension';
import { CHANGED_MARK, Row, rowsToText } from '../../../extension/views/rows';

const EXTENSION_ID = 'kentry.kentry';
const SEED_NAME = 'entry_SYSCALL_64.v5.8.13.annotated.S';

/** Polls until fn() gives a value; a deadline, not a timing assertion. */
async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Suite A measures activation; `npm run bench` reads the file (test-artifacts/activation.json). */
function writeActivationTime(ext: vscode.Extension<KentryExtensionApi>, m: { activateCallMs: number; activateFunctionMs: number; wasActiveBefore: boolean }): void {
  const dir = process.env.KENTRY_ARTIFACTS || path.join(ext.extensionPath, 'test-artifacts');
  const record = {
    ...m,
    // "activateCallMs" is only the cold activation when the extension was not active before the call.
    coldActivationMs: m.wasActiveBefore ? m.activateFunctionMs : m.activateCallMs,
    vscodeVersion: vscode.version,
    when: new Date().toISOString(),
  };
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'activation.json'), JSON.stringify(record, null, 2) + '\n');
    console.log(`activation: ${JSON.stringify(record)}`);
  } catch (e) {
    console.log(`activation time not written to ${dir}: ${e}`);
  }
}

function seedPath(ext: vscode.Extension<KentryExtensionApi>): string {
  // The runner copies the seed into the workspace; @vscode/test-electron may open another folder.
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const inWs = ws && path.join(ws, SEED_NAME);
  if (inWs && fs.existsSync(inWs)) return inWs;
  return path.resolve(ext.extensionPath, '../shared/seed', SEED_NAME);
}

/** 1-based line of the first `swapgs` instruction in the seed. */
function swapgsLine(text: string): number {
  const i = text.split('\n').findIndex((l) => l.trim() === 'swapgs');
  assert.ok(i >= 0, 'the seed has a swapgs line');
  return i + 1;
}

function find(rows: Row[], label: RegExp): Row | undefined {
  for (const r of rows) {
    if (label.test(r.label)) return r;
    const c = r.children && find(r.children, label);
    if (c) return c;
  }
  return undefined;
}

/** 0-based position of `needle` in text. */
function positionOf(text: string, needle: string): { line: number; character: number } {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  assert.ok(line >= 0, `the seed has ${needle}`);
  return { line, character: lines[line].indexOf(needle) };
}

async function topFrame(session: vscode.DebugSession): Promise<{ line: number; source?: { path?: string; name?: string } }> {
  const threads = await session.customRequest('threads');
  const st = await session.customRequest('stackTrace', { threadId: threads.threads[0].id });
  return st.stackFrames[0];
}

/** Starts a kentry session on the seed with one breakpoint on `swapgs` and waits for its first stop. */
async function startStoppedOnSwapgs(seed: string, line: number): Promise<vscode.DebugSession> {
  vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
  vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(seed), new vscode.Position(line - 1, 0)))]);
  let stopped = false;
  let started: vscode.DebugSession | undefined;
  const subs = [
    vscode.debug.registerDebugAdapterTrackerFactory('kentry', {
      createDebugAdapterTracker: () => ({
        onDidSendMessage: (m: { type: string; event?: string }) => {
          if (m.type === 'event' && m.event === 'stopped') stopped = true;
        },
      }),
    }),
    vscode.debug.onDidStartDebugSession((s) => (started = s.type === 'kentry' ? s : started)),
  ];
  try {
    const ok = await vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], {
      type: 'kentry',
      request: 'launch',
      name: 'e2e: seed entry code',
      kernelEntry: seed,
    });
    assert.strictEqual(ok, true, 'startDebugging');
    const session = await waitFor('the kentry session', () => started);
    await waitFor('a stop', () => stopped);
    return session;
  } finally {
    for (const d of subs) d.dispose();
  }
}

describe('kentry extension in a real VS Code', function () {
  let ext: vscode.Extension<KentryExtensionApi>;
  let api: KentryExtensionApi;
  let seed: string;
  let seedText: string;

  before(async () => {
    ext = vscode.extensions.getExtension<KentryExtensionApi>(EXTENSION_ID)!;
    assert.ok(ext, `extension ${EXTENSION_ID} is installed in the development host`);
    const wasActive = ext.isActive;
    const t0 = performance.now();
    api = await ext.activate();
    writeActivationTime(ext, { activateCallMs: performance.now() - t0, activateFunctionMs: api.activationMs, wasActiveBefore: wasActive });
    seed = seedPath(ext);
    seedText = fs.readFileSync(seed, 'utf8');
  });

  it('the language server builds the seed like the debugger: no problems, and the CONFIG_X86_5LEVEL branch is dimmed', async () => {
    const doc = await vscode.workspace.openTextDocument(seed);
    await vscode.window.showTextDocument(doc);
    const lines = seedText.split('\n');
    const ifdef = lines.findIndex((l) => /^#ifdef CONFIG_X86_5LEVEL/.test(l));
    const els = lines.findIndex((l, i) => i > ifdef && l.startsWith('#else'));
    assert.ok(ifdef >= 0 && els > ifdef, 'the seed has the CONFIG_X86_5LEVEL #ifdef/#else');
    const dimmed = await waitFor('the inactive regions drawn', () => {
      const r = api.languageClient.inactiveRegions.decorated(doc.uri);
      return r.length ? r : undefined;
    });
    assert.deepStrictEqual(dimmed, [{ startLine: ifdef + 1, endLine: els - 1 }], 'the 5-level branch (CONFIG_X86_5LEVEL=n by default) is greyed out');
    const published = await waitFor('the server\'s diagnostics for the seed', () => api.languageClient.publishedProblems(doc.uri) ?? undefined, 60000);
    const problems = vscode.languages.getDiagnostics(doc.uri).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    assert.deepStrictEqual({ published, problems }, { published: 0, problems: [] }, 'the Problems view lists nothing for the seed');
  });

  it('kentry.kernel.config X86_5LEVEL=true dims the 4-level branch instead, at once', async () => {
    const doc = await vscode.workspace.openTextDocument(seed);
    await vscode.window.showTextDocument(doc);
    const lines = seedText.split('\n');
    const els = lines.findIndex((l) => l.startsWith('#else'));
    const endif = lines.findIndex((l, i) => i > els && l.startsWith('#endif'));
    const config = vscode.workspace.getConfiguration('kentry');
    try {
      await config.update('kernel.config', { X86_5LEVEL: true }, vscode.ConfigurationTarget.Global);
      const dimmed = await waitFor('the #else branch dimmed', () => {
        const r = api.languageClient.inactiveRegions.decorated(doc.uri);
        return r[0]?.startLine === els + 1 ? r : undefined;
      });
      assert.deepStrictEqual(dimmed, [{ startLine: els + 1, endLine: endif - 1 }]);
    } finally {
      await config.update('kernel.config', undefined, vscode.ConfigurationTarget.Global);
    }
    await waitFor('the default branch dimmed again', () => (api.languageClient.inactiveRegions.decorated(doc.uri)[0]?.startLine !== els + 1 ? true : undefined));
  });

  it('kentry.annotationNotes: the note\'s comments become hovers on the same code without them', async function () {
    const mdName = SEED_NAME.replace(/\.S$/, '.md');
    const md = [path.join(path.dirname(seed), mdName), path.resolve(ext.extensionPath, '../shared/seed', mdName)].find((p) => fs.existsSync(p));
    if (!md) return this.skip();
    // The seed's code without its comments, as a kernel tree's file would be; written next to it at run time.
    const bare = path.join(path.dirname(seed), 'bare-entry.S');
    fs.writeFileSync(bare, seedText.split('\n').filter((l) => !/^\s*(\/\*|\*)/.test(l)).join('\n'));
    const config = vscode.workspace.getConfiguration('kentry');
    try {
      const doc = await vscode.workspace.openTextDocument(bare);
      await vscode.window.showTextDocument(doc);
      const line = doc.getText().split('\n').findIndex((l) => l.trim() === 'swapgs');
      const hover = async (): Promise<string> => {
        const hs = (await vscode.commands.executeCommand('vscode.executeHoverProvider', doc.uri, new vscode.Position(line, 3))) as vscode.Hover[];
        return hs.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      };
      const before = await waitFor('the language server\'s hover on swapgs', async () => ((await hover()).includes('Exchanges GS_BASE') ? hover() : undefined));
      assert.doesNotMatch(before, /Swap user GS and kernel GS/, 'no note yet');
      await config.update('annotationNotes', [md], vscode.ConfigurationTarget.Global);
      const after = await waitFor('the note\'s comment in the hover', async () => {
        const h = await hover();
        return /Swap user GS and kernel GS/.test(h) ? h : undefined;
      });
      assert.match(after, /#define MSR_KERNEL_GS_BASE\t0xc0000102/, 'with the note\'s fenced code');
    } finally {
      await config.update('annotationNotes', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      fs.rmSync(bare, { force: true });
    }
  });

  it('F12 on TSS_sp2 in the seed opens the generated asm-offsets.h read-only, on its #define line', async () => {
    const doc = await vscode.workspace.openTextDocument(seed);
    const editor = await vscode.window.showTextDocument(doc);
    const at = positionOf(seedText, 'cpu_tss_rw + TSS_sp2');
    const pos = new vscode.Position(at.line, at.character + 'cpu_tss_rw + '.length + 2);
    // The server answers once it has started; until then the definition list is empty.
    await waitFor('a definition of TSS_sp2', async () => {
      const locs = (await vscode.commands.executeCommand('vscode.executeDefinitionProvider', doc.uri, pos)) as Array<vscode.Location | vscode.LocationLink>;
      return locs.length ? locs : undefined;
    }, 60000);
    editor.selection = new vscode.Selection(pos, pos);
    await vscode.commands.executeCommand('editor.action.revealDefinition');
    const opened = await waitFor('the generated header in the active editor', () => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.scheme === 'kentry-generated' ? e : undefined;
    });
    try {
      assert.strictEqual(opened.document.uri.path, '/generated/asm-offsets.h');
      const shown = await waitFor('the header text', () => (opened.document.getText().includes('TSS_sp2') ? opened.document : undefined));
      assert.match(shown.lineAt(opened.selection.active.line).text, /^#define TSS_sp2 \d+$/, 'the cursor is on the definition line');
      // Read-only: typing into the editor (what a user would do) changes nothing.
      const before = shown.getText();
      await vscode.commands.executeCommand('type', { text: 'x' });
      assert.strictEqual(shown.getText(), before, 'typing is refused');
      assert.strictEqual(shown.isDirty, false);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
  });

  it('contributes the kentry-asm language, the commands and the debugger', async () => {
    const languages = await vscode.languages.getLanguages();
    assert.ok(languages.includes('kentry-asm'), 'kentry-asm language');
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['kentry.showStackDiagram', 'kentry.walkPageTables']) assert.ok(commands.includes(c), c);
    const debuggers = ext.packageJSON.contributes.debuggers as { type: string }[];
    assert.deepStrictEqual(debuggers.map((d) => d.type), ['kentry']);
  });

  it('opens the seed as kentry-asm, and F5 without launch.json debugs it as the entry code', async () => {
    const doc = await vscode.workspace.openTextDocument(seed);
    await vscode.window.showTextDocument(doc);
    assert.strictEqual(doc.languageId, 'kentry-asm');
    const cfg = await api.configurationProvider.resolveDebugConfiguration(undefined, { type: '', request: '', name: '' });
    assert.strictEqual(cfg?.type, 'kentry');
    assert.strictEqual(cfg?.kernelEntry, seed);
    assert.strictEqual(cfg?.program, undefined);
  });

  describe('a session on the seed with a breakpoint on swapgs', function () {
    let session: vscode.DebugSession;
    let line: number;

    before(async () => {
      line = swapgsLine(seedText);
      session = await startStoppedOnSwapgs(seed, line);
      await waitFor('the views to get the machine state', () => api.store.current);
    });

    after(() => vscode.debug.removeBreakpoints(vscode.debug.breakpoints));

    it('stops with the top frame on the swapgs line of the seed', async () => {
      assert.strictEqual(api.adapterFactory.lastMode, 'inline', 'the default runs the adapter in the extension host');
      const top = await topFrame(session);
      assert.strictEqual(path.basename(top.source?.path ?? top.source?.name ?? ''), SEED_NAME);
      assert.strictEqual(top.line, line);
    });

    it('answers MACHINE_STATE_REQUEST with LSTAR pointing at entry_SYSCALL_64', async () => {
      const state: MachineStateView = await session.customRequest(MACHINE_STATE_REQUEST);
      const lstar = state.msrs.find((m) => /LSTAR/.test(m.name));
      assert.ok(lstar, 'an LSTAR row');
      assert.match(lstar.decoded, /entry_SYSCALL_64/);
      assert.strictEqual(state.cpl, 0, 'stopped in the kernel');
    });

    it('fills every view from that state', () => {
      const msrs = api.views.msrs.rows();
      const lstar = find(msrs, /LSTAR/);
      assert.match(lstar?.description ?? '', /entry_SYSCALL_64/);
      const perCpu = api.views.perCpu.rows();
      assert.ok(find(perCpu, /sp2/), 'TSS sp2 row:\n' + rowsToText(perCpu));
      const paging = api.views.paging.rows();
      assert.ok(find(paging, /^PGD$/), 'CR3 PGD row');
      const pt = api.views.ptRegs.rows();
      assert.match(pt[0].description ?? '', /^0x[0-9a-f]+/i, 'RSP row');
      assert.ok(pt.length > 2, 'pt_regs fields listed');
      assert.ok(api.views.sysret.rows().length > 0, 'SYSRET checks listed');
      // The providers hand VS Code real tree items.
      const item = api.views.msrs.getTreeItem(lstar!);
      assert.strictEqual(item.label, lstar!.label);
      assert.ok(item.tooltip, 'MSR tooltip');
    });

    it('hovering %rsp and TSS_sp2 adds their live values to the language server\'s hover', async () => {
      const doc = await vscode.workspace.openTextDocument(seed);
      const at = positionOf(seedText, 'movq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)');
      const hoversAt = async (needle: string): Promise<string[]> => {
        const line = seedText.split('\n')[at.line];
        const pos = new vscode.Position(at.line, line.indexOf(needle) + 1);
        const hovers = (await vscode.commands.executeCommand('vscode.executeHoverProvider', doc.uri, pos)) as vscode.Hover[];
        return hovers.map((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value)).join('\n'));
      };
      const hoverText = async (needle: string): Promise<string> => (await hoversAt(needle)).join('\n---\n');
      const rsp = ((await session.customRequest('evaluate', { expression: '$rsp', context: 'watch' })) as { result: string }).result;
      const rspHover = await hoverText('%rsp');
      assert.match(rspHover, new RegExp(`\\*\\*Live value\\*\\* \\(stop \\d+\\): \`%rsp\` = \`${rsp.split(' ')[0]}`), rspHover);
      assert.ok((await hoversAt('%rsp')).some((h) => !/Live value/.test(h) && h.trim()), `the language server's hover is still there: ${rspHover}`);
      const sp2 = await hoverText('TSS_sp2');
      assert.match(sp2, /\*\*TSS_sp2\*\* = `20`/, 'the asm-offset from the language server');
      assert.match(sp2, /\*\*Live value\*\* \(stop \d+\): `cpu_tss_rw\.x86_tss\.sp2` = `0x[0-9a-f]+/, sp2);
    });

    it('walks the page tables of the operand under the cursor: %rsp\'s value, TSS_sp2\'s location', async () => {
      const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(seed));
      const at = positionOf(seedText, '%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)');
      const line = seedText.split('\n')[at.line];
      const walkAt = async (needle: string) => {
        const c = line.indexOf(needle) + 2;
        editor.selection = new vscode.Selection(at.line, c, at.line, c);
        const r = (await vscode.commands.executeCommand('kentry.walkPageTablesAtCursor', false)) as { address: string; results: PageWalkResult[] } | undefined;
        assert.ok(r, `a page walk of ${needle}`);
        return r;
      };
      const evaluate = async (expression: string) => (await session.customRequest('evaluate', { expression, context: 'watch' })) as { result: string; memoryReference?: string };
      const rsp = await walkAt('%rsp');
      assert.strictEqual(BigInt(rsp.address), BigInt((await evaluate('$rsp')).result.split(' ')[0]), 'a register: its value');
      assert.deepStrictEqual(rsp.results.map((r) => r.half).sort(), ['kernel', 'user']);
      const sp2 = await walkAt('TSS_sp2');
      const field = await evaluate('this_cpu(cpu_tss_rw).x86_tss.sp2');
      assert.ok(field.memoryReference, 'the TSS field is a location');
      assert.strictEqual(BigInt(sp2.address), BigInt(field.memoryReference), 'a memory operand: where it lives');
      assert.strictEqual(sp2.results.find((r) => r.half === 'kernel')?.fault, undefined, 'the per-CPU TSS is mapped in the kernel half');
    });

    it('the stack diagram draws the three stacks', async () => {
      await vscode.commands.executeCommand('kentry.showStackDiagram');
      const html = await waitFor('the stack diagram', () => api.stackDiagramHtml());
      for (const s of ['user', 'trampoline', 'kernel']) assert.match(html, new RegExp(`data-stack="${s}"`));
      assert.match(html, new RegExp(`stop ${api.store.current!.stopCount}\\b`));
    });

    it('walks the page tables of RIP in both KPTI halves', async () => {
      const rip = api.store.current!.rip;
      const record = (await vscode.commands.executeCommand('kentry.walkPageTables', rip, false)) as
        | { results: PageWalkResult[] }
        | undefined;
      assert.ok(record, 'a page walk');
      assert.deepStrictEqual(record.results.map((r) => r.half).sort(), ['kernel', 'user']);
      const kernel = record.results.find((r) => r.half === 'kernel')!;
      assert.strictEqual(kernel.fault, undefined, 'the entry text is mapped in the kernel half');
      assert.ok(find(api.views.paging.rows(), /kernel half/), 'the walk shows in the CR3 & Paging view');
    });

    it('stepping over swapgs marks the swapped GS base MSRs as changed', async () => {
      const before = api.store.current!.stopCount;
      const threads = await session.customRequest('threads');
      await session.customRequest('next', { threadId: threads.threads[0].id });
      await waitFor('the next stop', () => (api.store.current && api.store.current.stopCount > before ? true : undefined));
      const changed = api.views.msrs.rows().filter((r) => r.description?.includes(CHANGED_MARK)).map((r) => r.label);
      assert.ok(changed.some((n) => /GS_BASE/.test(n)), `changed MSRs: ${changed.join(', ')}`);
    });

    it('at `pushq %rax` the hardware frame is in pt_regs, and clicking a slot reveals the instruction that wrote it', async () => {
      const lines = seedText.split('\n');
      const pushRax = lines.findIndex((l) => /^\s*pushq\s+%rax\b/.test(l)) + 1;
      assert.ok(pushRax > 0, 'the seed pushes orig_ax');
      vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(seed), new vscode.Position(pushRax - 1, 0)))]);
      const before = api.store.current!.stopCount;
      const threads = await session.customRequest('threads');
      await session.customRequest('continue', { threadId: threads.threads[0].id });
      await waitFor('the stop at pushq %rax', async () =>
        api.store.current && api.store.current.stopCount > before && (await topFrame(session)).line === pushRax ? true : undefined,
      );
      const rows = api.views.ptRegs.rows();
      const ip = rows.find((r) => r.label === 'ip');
      assert.ok(ip?.reveal, `pt_regs->ip has its writer:\n${rowsToText(rows)}`);
      assert.doesNotMatch(ip.description ?? '', /not written/);
      assert.match(rows.find((r) => r.label === 'orig_ax')?.description ?? '', /not written/, 'orig_ax is pushed by this very line');
      const item = api.views.ptRegs.getTreeItem(ip);
      await vscode.commands.executeCommand(item.command!.command, ...(item.command!.arguments ?? []));
      const editor = await waitFor('the writer revealed', () => {
        const e = vscode.window.activeTextEditor;
        return e && e.document.uri.fsPath === path.resolve(ip.reveal!.file) ? e : undefined;
      });
      assert.strictEqual(editor.selection.active.line, ip.reveal!.line - 1);
      // The stack diagram (opened above) moved RSP to the kernel stack.
      assert.match(api.stackDiagramHtml() ?? '', /class="stack kernel active"/);
      assert.match(editor.document.lineAt(ip.reveal!.line - 1).text, /push/);
    });

    it('at POP_REGS after the SYSRET checks, the SYSRET checks view shows every check passed', async () => {
      const popRegs = seedText.split('\n').findIndex((l) => /^\s*POP_REGS\b/.test(l)) + 1;
      assert.ok(popRegs > 0, 'the seed has POP_REGS on the SYSRET path');
      vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(seed), new vscode.Position(popRegs - 1, 0)))]);
      const threads = await session.customRequest('threads');
      await session.customRequest('continue', { threadId: threads.threads[0].id });
      await waitFor('the stop at POP_REGS', async () => ((await topFrame(session)).line === popRegs && api.store.current ? true : undefined));
      const state = await waitFor('the state at POP_REGS', async () => {
        const s = api.store.current;
        return s && (await topFrame(session)).line === popRegs && s.sysretChecks.every((c) => c.pass !== undefined) ? s : undefined;
      });
      const rows = api.views.sysret.rows();
      assert.strictEqual(rows.length, state.sysretChecks.length);
      assert.deepStrictEqual(rows.filter((r) => r.icon !== 'pass').map((r) => `${r.label}: ${r.description}`), []);
    });

    it('edits a pt_regs slot (writeMemory) and an MSR (setVariable) from the views', async () => {
      assert.deepStrictEqual(api.tracker.editCapabilities(session), { supportsSetVariable: true, supportsWriteMemoryRequest: true });
      const origAx = api.views.ptRegs.rows().find((r) => r.label === 'orig_ax');
      assert.ok(origAx?.edit, 'pt_regs->orig_ax is editable');
      assert.match(api.views.ptRegs.getTreeItem(origAx).contextValue ?? '', /editable-memory/);
      const r1 = await vscode.commands.executeCommand('kentry.editValue', origAx, '0x1234');
      assert.deepStrictEqual(r1, { ok: true });
      const slot = await waitFor('orig_ax = 0x1234', () => {
        const f = api.store.current?.ptRegs.fields.find((x) => x.field === 'orig_ax');
        return f && BigInt(f.value) === 0x1234n ? f : undefined;
      });
      const mem = (await session.customRequest('evaluate', { expression: 'regs->orig_ax', context: 'watch' })) as { result: string };
      assert.match(mem.result, /^0x0*1234\b/, 'the adapter reads back what the view wrote');
      assert.strictEqual(BigInt(slot.value), 0x1234n);
      const tscAux = api.views.msrs.rows().find((r) => r.label === 'TSC_AUX');
      assert.ok(tscAux?.edit, 'TSC_AUX is editable');
      assert.deepStrictEqual(await vscode.commands.executeCommand('kentry.editValue', tscAux, '7'), { ok: true });
      await waitFor('TSC_AUX = 7', () => (BigInt(api.store.current?.msrs.find((m) => m.name === 'TSC_AUX')?.value ?? -1) === 7n ? true : undefined));
      const bad = (await vscode.commands.executeCommand('kentry.editValue', origAx, 'no_such_symbol')) as { error?: string };
      assert.ok(bad?.error, 'a value the evaluator cannot read is an error message, not a crash');
    });

    it('clears the views when the session ends', async () => {
      await vscode.debug.stopDebugging(session);
      await waitFor('the views to clear', () => (api.store.current === undefined ? true : undefined));
      assert.deepStrictEqual(api.views.msrs.rows(), []);
      assert.deepStrictEqual(api.views.ptRegs.rows(), []);
    });
  });

  describe('kentry.debugAdapter.mode = server', function () {
    const config = () => vscode.workspace.getConfiguration('kentry');
    before(() => config().update('debugAdapter.mode', 'server', vscode.ConfigurationTarget.Global));
    after(async () => {
      await config().update('debugAdapter.mode', undefined, vscode.ConfigurationTarget.Global);
      vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    });

    it('runs dist/debugAdapter.js as its own process and stops on swapgs the same way', async () => {
      const line = swapgsLine(seedText);
      const session = await startStoppedOnSwapgs(seed, line);
      try {
        assert.strictEqual(api.adapterFactory.lastMode, 'server');
        assert.strictEqual((await topFrame(session)).line, line);
        const state = await waitFor('the machine state', () => api.store.current);
        assert.match(state.msrs.find((m) => /LSTAR/.test(m.name))?.decoded ?? '', /entry_SYSCALL_64/);
      } finally {
        await vscode.debug.stopDebugging(session);
      }
    });
  });
});
