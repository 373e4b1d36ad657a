/**
 * kentry-asm language server, the LSP side: hovers with annotations, instruction meanings, values
 * and macro expansions; go to definition; outline; assembler diagnostics; inactive #if regions.
 * Only the protocol glue lives here; the logic is in the small modules next to it, and the
 * assembly runs on a worker thread (assembly-service.ts) so hovers never wait for it.
 */
import * as fs from 'fs';
import { fileURLToPath, pathToFileURL } from 'url';
import {
  createConnection, DiagnosticSeverity, DidChangeWatchedFilesNotification, type DidChangeConfigurationParams, type TextDocumentChangeEvent, DocumentSymbol, Location, MarkupKind, ProposedFeatures, Range,
  SymbolKind, TextDocuments, TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { FileAccess } from '../emulator/host';
import { Analyzer, type DocumentState } from './analysis';
import type { AssemblyJob } from './assembly-job';
import { AssemblyService } from './assembly-service';
import type { FileDiagnostic } from './diagnostics';
import { loadAssembler } from './engine';
import { generatedPathOf, generatedUriOf, isGeneratedPath } from './generated-uris';
import {
  GENERATED_HEADER_REQUEST, INACTIVE_REGIONS_NOTIFICATION, SETTINGS_SECTION, type GeneratedHeaderParams, type GeneratedHeaderResult, type InactiveRegionsParams,
  type KentryServerOptions, type KentrySettings,
} from './protocol';
import { sanitizeServerOptions } from './settings';
import { documentSymbols, type SourceSymbol, type SymbolKindName } from './symbols';

/**
 * Serves LSP over stdio (--stdio) or Node IPC (--node-ipc), as the client starts it.
 * @param entryScript the running script (server.ts / dist/languageServer.js): the assembly worker starts it again
 */
export function serveLanguageServer(entryScript: string): void {
  const connection = createConnection(ProposedFeatures.all);
  const documents = new TextDocuments(TextDocument);

  const toPath = (uri: string): string => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
  const toUri = (p: string): string => (p.includes(':') && !p.startsWith('/') ? p : pathToFileURL(p).href);

  /**
   * Files on disk as last read: a real entry_64.S includes a hundred headers and every hover used to
   * read them again. Forgotten (with the analyzer's builds) whenever the disk may have changed: a
   * save, an open or close, a watched-file event, a configuration change.
   */
  const disk = new Map<string, string | undefined>();
  /** The open documents by file path (kept in step with `documents`). */
  const openByPath = new Map<string, TextDocument>();

  /** Open editor buffers win over the disk, so hovers and diagnostics see unsaved edits. */
  const files: FileAccess = {
    readFile(p) {
      // By path, not documents.get(toUri(p)): URL conversion for each of a hundred headers per build cost more than the read.
      const open = openByPath.get(p);
      if (open) return open.getText();
      if (disk.has(p)) return disk.get(p);
      let text: string | undefined;
      try {
        text = fs.readFileSync(p, 'utf8');
      } catch {
        text = undefined;
      }
      disk.set(p, text);
      return text;
    },
  };

  /** A file the editor can open: generated headers under their own scheme (the extension serves them). */
  const openableUri = (p: string): string => (isGeneratedPath(p) ? generatedUriOf(p) : toUri(p));

  let initOptions: KentryServerOptions = {};
  /** What the analyzer was last configured with (the worker gets the same). */
  let options: KentryServerOptions = {};
  const analyzer = new Analyzer(files, {}, loadAssembler());
  const timers = new Map<string, NodeJS.Timeout>();
  /** Bumped with every disk.clear(): tells the worker to forget what it read too. */
  let diskEpoch = 0;
  const assembler = new AssemblyService(
    entryScript,
    // Without a worker: the same analysis on this thread.
    (job) => analyzer.analyse(analyzer.stateFor(job.file, job.version, job.text)),
    (message) => connection.console.error(message),
  );

  function configure(o: KentryServerOptions): void {
    options = o;
    analyzer.setOptions(o);
  }

  function stateOf(doc: TextDocument): DocumentState {
    return analyzer.state(toPath(doc.uri), doc.version, doc.getText());
  }

  let canWatchFiles = false;

  connection.onInitialize((params) => {
    initOptions = sanitizeServerOptions(params.initializationOptions);
    configure(initOptions);
    assembler.start();
    canWatchFiles = params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        definitionProvider: true,
        documentSymbolProvider: true,
      },
      serverInfo: { name: 'kentry-asm' },
    };
  });

  // Headers are read once and kept: ask the client to say when sources change on disk (a checkout, `make prepare`).
  connection.onInitialized(() => {
    if (canWatchFiles) void connection.client.register(DidChangeWatchedFilesNotification.type, { watchers: [{ globPattern: '**/*.{S,s,h}' }] });
  });

  connection.onDidChangeConfiguration((change: DidChangeConfigurationParams) => {
    const settings: unknown = change?.settings;
    const s = typeof settings === 'object' && settings !== null ? (settings as Record<string, unknown>)[SETTINGS_SECTION] : undefined;
    if (typeof s !== 'object' || s === null) return;
    const { annotationNotes, languageServer } = s as KentrySettings;
    const notes = sanitizeServerOptions({ annotationNotes }).annotationNotes;
    diskMayHaveChanged();
    configure({ ...initOptions, ...sanitizeServerOptions(languageServer), ...(notes ? { annotationNotes: notes } : {}) });
    for (const d of documents.all()) schedule(d, 0);
  });

  const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning } as const;

  /** Re-analyse a document after the user pauses typing (the assembler is the slow part). */
  function schedule(doc: TextDocument, delay = options.diagnosticsDelayMs ?? 300): void {
    clearTimeout(timers.get(doc.uri));
    timers.set(doc.uri, setTimeout(() => {
      timers.delete(doc.uri);
      const current = documents.get(doc.uri);
      if (current) guarded('analysis', () => analyse(current));
    }, delay));
  }

  /** A bug in the analysis must cost one feature, never the server. */
  function guarded<T>(what: string, f: () => T): T | null {
    try {
      return f();
    } catch (e) {
      connection.console.error(`${what} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      return null;
    }
  }

  /**
   * This version's assembly on the worker (diagnostics published when it is back; hovers meanwhile
   * answer with what needs no assembly), and here, step by step, the hover lookups and the inactive regions.
   */
  function analyse(doc: TextDocument): void {
    clearTimeout(timers.get(doc.uri));
    timers.delete(doc.uri);
    const s = stateOf(doc);
    if (s.assembling || s.assembled) return;
    s.assembling = true;
    const job: AssemblyJob = {
      file: s.file,
      version: s.version,
      text: s.text,
      // Notes only matter to hovers, and aligning them is not free: the worker does without.
      options: { ...options, annotationNotes: [] },
      overlay: documents.all().filter((d) => d.uri !== doc.uri).map((d) => [toPath(d.uri), d.getText()]),
      diskEpoch,
    };
    prepareThenSendInactive(doc, s);
    assembler.run(job).then(
      (r) => {
        // Superseded by a newer version, or the options changed meanwhile: a newer job answers.
        if (!r || analyzer.current(s.file) !== s) return;
        analyzer.adopt(s, r);
        const current = documents.get(doc.uri);
        if (current?.version === s.version) guarded('diagnostics', () => publishDiagnostics(current, r.diagnostics));
      },
      (e: Error) => {
        s.assembling = false;
        s.assembled = true;
        connection.console.error(`assembly failed: ${e.stack ?? e.message}`);
        const current = documents.get(doc.uri);
        if (current?.version === s.version) publishDiagnostics(current, [{ line: 0, severity: 'error', message: `assembler failed: ${e.message}` }]);
      },
    );
  }

  /** Header indexes one per event-loop turn (hovers slip in between), then the inactive regions, cheap by then. */
  function prepareThenSendInactive(doc: TextDocument, s: DocumentState): void {
    const steps = analyzer.prepareSteps(s);
    const step = (): void => {
      // A newer version or new options: that analysis prepares its own.
      if (analyzer.current(s.file) !== s) return;
      const more = guarded('preparing hovers', () => !steps.next().done);
      if (more) {
        setImmediate(step);
        return;
      }
      const params: InactiveRegionsParams = { uri: doc.uri, version: s.version, regions: guarded('inactive regions', () => analyzer.inactive(s)) ?? [] };
      void connection.sendNotification(INACTIVE_REGIONS_NOTIFICATION, params);
    };
    setImmediate(step);
  }

  function publishDiagnostics(current: TextDocument, diags: FileDiagnostic[]): void {
    const lineLength = (line: number): number => current.getText(Range.create(line, 0, line + 1, 0)).replace(/\r?\n$/, '').length;
    void connection.sendDiagnostics({
      uri: current.uri,
      version: current.version,
      diagnostics: diags.map((d) => ({
        range: Range.create(d.line, 0, d.line, lineLength(d.line)),
        severity: SEVERITY[d.severity],
        source: 'kentry-as',
        message: d.message,
        relatedInformation: d.origin && (isGeneratedPath(d.origin.file) || fs.existsSync(d.origin.file))
          ? [{ location: Location.create(openableUri(d.origin.file), Range.create(d.origin.line - 1, 0, d.origin.line - 1, 0)), message: 'inside this macro / header' }]
          : undefined,
      })),
    });
  }

  /** The disk may differ from what was read: forget it and the builds made from it. */
  function diskMayHaveChanged(): void {
    disk.clear();
    diskEpoch++;
    analyzer.refresh();
  }

  documents.onDidOpen((e: TextDocumentChangeEvent<TextDocument>) => {
    openByPath.set(toPath(e.document.uri), e.document);
    diskMayHaveChanged();
    // At once: a freshly opened file has nothing to wait for, and its first hover wants the expansions.
    guarded('analysis', () => analyse(e.document));
  });
  documents.onDidChangeContent((e: TextDocumentChangeEvent<TextDocument>) => {
    // TextDocuments makes a new TextDocument per change.
    openByPath.set(toPath(e.document.uri), e.document);
    analyzer.documentChanged(toPath(e.document.uri));
    // (didOpen fires this too; analyse() skips a version already under way.)
    schedule(e.document);
  });
  documents.onDidSave(() => diskMayHaveChanged());
  connection.onDidChangeWatchedFiles(() => diskMayHaveChanged());
  documents.onDidClose((e: TextDocumentChangeEvent<TextDocument>) => {
    openByPath.delete(toPath(e.document.uri));
    diskMayHaveChanged();
    clearTimeout(timers.get(e.document.uri));
    analyzer.forget(toPath(e.document.uri));
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return null;
    const s = stateOf(doc);
    if (!s.assembling && !s.assembled) {
      // In a typing pause the timer assembles this version soon (hovers meanwhile say so); assembling
      // every version hovered while typing would only keep the worker and the GC busy.
      if (timers.has(doc.uri)) s.scheduled = true;
      else guarded('analysis', () => analyse(doc));
    }
    const md = guarded('hover', () => analyzer.hover(s, p.position.line, p.position.character));
    return md ? { contents: { kind: MarkupKind.Markdown, value: md } } : null;
  });

  connection.onDefinition((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return null;
    const loc = guarded('definition', () => analyzer.definition(toPath(doc.uri), doc.getText(), p.position.line, p.position.character));
    if (!loc) return null;
    // Generated headers (asm-offsets.h ...) exist only in memory: the extension serves their URI scheme.
    if (isGeneratedPath(loc.file)) {
      return analyzer.generatedHeader(loc.file) === undefined ? null : Location.create(generatedUriOf(loc.file), Range.create(loc.line, loc.column, loc.line, loc.column));
    }
    if (!fs.existsSync(loc.file)) return null;
    return Location.create(toUri(loc.file), Range.create(loc.line, loc.column, loc.line, loc.column));
  });

  connection.onRequest(GENERATED_HEADER_REQUEST, (p: GeneratedHeaderParams): GeneratedHeaderResult => {
    const file = typeof p?.uri === 'string' ? generatedPathOf(p.uri) : undefined;
    const text = file && guarded('generated header', () => analyzer.generatedHeader(file));
    return typeof text === 'string' ? { text } : null;
  });

  const KIND: Record<SymbolKindName, SymbolKind> = {
    function: SymbolKind.Function,
    label: SymbolKind.Key,
    'local-label': SymbolKind.Key,
    'as-macro': SymbolKind.Method,
    'cpp-macro': SymbolKind.Method,
    constant: SymbolKind.Constant,
  };

  function toDocumentSymbol(doc: TextDocument, s: SourceSymbol): DocumentSymbol {
    const endText = doc.getText(Range.create(s.endLine, 0, s.endLine + 1, 0)).replace(/\r?\n$/, '');
    return {
      name: s.name,
      detail: s.detail,
      kind: KIND[s.kind],
      range: Range.create(s.line, 0, s.endLine, endText.length),
      selectionRange: Range.create(s.line, s.column, s.line, s.column + s.name.length),
      children: s.children.map((c) => toDocumentSymbol(doc, c)),
    };
  }

  connection.onDocumentSymbol((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? guarded('outline', () => documentSymbols(doc.getText()).filter((s) => s.kind !== 'local-label').map((s) => toDocumentSymbol(doc, s))) : null;
  });

  documents.listen(connection);
  connection.listen();
}
