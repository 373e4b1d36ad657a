/**
 * The slow part of analysing a document (assembling it with its kernel build, running cpp over
 * it, deciding its ALTERNATIVEs), as plain data that can cross to a worker thread and back:
 * the server's single thread keeps answering hovers while a real entry_64.S assembles.
 */
import type { ObjectImage } from '../emulator/asm/types';
import type { AppliedAlternative } from '../emulator/kernel/alternatives';
import type { FileDiagnostic } from './diagnostics';
import type { KentryServerOptions } from './protocol';

export interface AssemblyJob {
  file: string;
  version: number;
  text: string;
  options: KentryServerOptions;
  /** The other open documents (path -> unsaved text): they win over the disk, as on the main thread. */
  overlay: Array<[string, string]>;
  /** Bumped whenever the disk may have changed: the worker forgets the files it read. */
  diskEpoch: number;
}

export interface AssemblyResult {
  file: string;
  version: number;
  diagnostics: FileDiagnostic[];
  image?: ObjectImage;
  /** The file's own lines after cpp, by 1-based line. */
  preprocessed: Array<[number, string]>;
  /** The image's ALTERNATIVE records decided for the configured CPU. */
  alternatives: AppliedAlternative[];
}
