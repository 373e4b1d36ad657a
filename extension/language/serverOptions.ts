/**
 * What the extension tells the kentry-asm language server (initializationOptions, and the
 * `kentry` section re-sent on every settings change): the annotation notes and the kernel the
 * documents are built for, so the server assembles a bare excerpt such as the seed with the same
 * prelude and generated headers as the debugger, and reports no false problems.
 * Pure (no vscode import) so it can be unit-tested and shared with the LSP tests.
 */
import * as path from 'path';
import type { KentryServerOptions, KentrySettings } from '../../language-server/protocol';

/** The user's `kentry.*` settings the language server depends on, as read from the configuration. */
export interface LanguageSettings {
  /** `kentry.annotationNotes`: Markdown notes; relative paths and ${workspaceFolder} resolve against the first folder. */
  annotationNotes?: unknown;
  /** `kentry.kernel.version`: '' = the debugger's default profile. */
  kernelVersion?: unknown;
  /** `kentry.kernel.config`: Kconfig overrides without CONFIG_. */
  kernelConfig?: unknown;
  /** `kentry.cpu`: CPU profile for ALTERNATIVE hovers ("intel", "amd" ...). */
  cpu?: unknown;
}

/** Settings come from JSON the user typed: anything not a string path is dropped, not thrown on. */
export function resolveNotes(notes: unknown, workspaceFolder: string | undefined): string[] {
  if (!Array.isArray(notes)) return [];
  return notes
    .filter((n): n is string => typeof n === 'string' && n.trim() !== '')
    .map((n) => n.trim().replace(/^\$\{workspaceFolder\}/, workspaceFolder ?? ''))
    .map((n) => (path.isAbsolute(n) || !workspaceFolder ? n : path.join(workspaceFolder, n)));
}

function booleanMap(v: unknown): Record<string, boolean> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, boolean> = {};
  // "CONFIG_X86_5LEVEL" and "X86_5LEVEL" mean the same option; the server wants the latter.
  for (const [k, b] of Object.entries(v)) if (typeof b === 'boolean') out[k.replace(/^CONFIG_/, '')] = b;
  return Object.keys(out).length ? out : undefined;
}

export function serverOptionsFor(settings: LanguageSettings, samplesDir: string, workspaceFolder?: string): KentryServerOptions {
  const version = typeof settings.kernelVersion === 'string' && settings.kernelVersion.trim() ? settings.kernelVersion.trim() : undefined;
  const cpu = typeof settings.cpu === 'string' && settings.cpu.trim() ? settings.cpu.trim() : undefined;
  return {
    annotationNotes: resolveNotes(settings.annotationNotes, workspaceFolder),
    kernel: { samplesDir, version, config: booleanMap(settings.kernelConfig), ...(cpu ? { cpu } : {}) },
  };
}

/** The didChangeConfiguration payload: the server replaces its options with these. */
export function settingsNotification(options: KentryServerOptions): { settings: { kentry: KentrySettings } } {
  return { settings: { kentry: { annotationNotes: options.annotationNotes, languageServer: options } } };
}
