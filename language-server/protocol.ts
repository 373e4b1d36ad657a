/**
 * kentry-asm language server: its LSP extensions and options, declared once and imported by the
 * server and the extension's language client (as vscode-eslint's customMessages.ts does).
 */

/** The language id the server serves (`*.S`, `*.s`). */
export const KENTRY_ASM_LANGUAGE_ID = 'kentry-asm';

/**
 * Notification server -> client after each analysis of a document: the lines an `#if`/`#ifdef`
 * leaves out for the configured kernel. The client greys them out (a text decoration).
 * Picked over semantic tokens so the grammar's colours stay and the client only adds opacity.
 */
export const INACTIVE_REGIONS_NOTIFICATION = 'kentry/inactiveRegions';

export interface InactiveRegionsParams {
  uri: string;
  /** Document version the regions were computed for. */
  version: number;
  /** 0-based, inclusive line ranges; the #if/#else/#endif lines themselves are not included. */
  regions: Array<{ startLine: number; endLine: number }>;
}

/** The `workspace/configuration` / didChangeConfiguration section the server reads. */
export const SETTINGS_SECTION = 'kentry';

/**
 * initializationOptions the client passes (and, under `kentry.languageServer`, the settings that
 * may change later). Paths are absolute.
 */
export interface KentryServerOptions {
  /** Markdown notes whose fenced code annotates a real source file (setting `kentry.annotationNotes`). */
  annotationNotes?: string[];
  /** -I directories for #include / .include, in order (e.g. the kernel tree's arch/x86/include, samples/include). */
  includeDirs?: string[];
  /** -D definitions: CONFIG_* of the chosen kernel config ('1' for y), and the like. */
  defines?: Record<string, string>;
  /** Files included before each document (gcc -include), e.g. a generated autoconf.h. */
  preIncludes?: string[];
  /** Extra name -> value pairs for hovers (e.g. asm-offsets of the chosen kernel profile). */
  values?: Record<string, string>;
  /**
   * Build documents as the debugger does, with a kernel profile's generated headers and kentry's
   * headers (samples/include); when set, includeDirs/defines/preIncludes above are ignored.
   */
  kernel?: KernelSettings;
  /** Milliseconds to wait after the last edit before re-assembling for diagnostics (default 300). */
  diagnosticsDelayMs?: number;
}

export interface KernelSettings {
  /** Absolute path of the extension's samples/ folder (holds include/, kernel/, user/). */
  samplesDir: string;
  /** Kernel profile version, e.g. '5.8'; default: the newest profile. */
  version?: string;
  /** Kconfig overrides without CONFIG_, e.g. { X86_5LEVEL: true }. */
  config?: Record<string, boolean>;
  /** CPU profile a booted kernel runs on (setting `kentry.cpu`: "intel", "amd" ...), for ALTERNATIVE hovers; default "intel". */
  cpu?: string;
}

/** Settings under `kentry` that override initializationOptions when sent by didChangeConfiguration. */
export interface KentrySettings {
  annotationNotes?: string[];
  languageServer?: KentryServerOptions;
}

/**
 * URI scheme of kentry's generated headers (asm-offsets.h, autoconf.h ...). They exist only in
 * memory under emulator/kernel/generated-headers.ts's GENERATED_DIR, so go to definition answers
 * `kentry-generated:/generated/asm-offsets.h` and the extension serves that URI read-only with the
 * text the server gets from GENERATED_HEADER_REQUEST: one source of truth for server and editor.
 */
export const GENERATED_SCHEME = 'kentry-generated';

/** Request client -> server: the text of one generated header for the current kernel version and config. */
export const GENERATED_HEADER_REQUEST = 'kentry/generatedHeader';

export interface GeneratedHeaderParams {
  /** A GENERATED_SCHEME URI, as a definition returned it. */
  uri: string;
}

/** null when the URI names no generated header (or the server builds documents without a kernel profile). */
export type GeneratedHeaderResult = { text: string } | null;
