/**
 * The engine does no I/O of its own: whoever hosts it (debug adapter, CLI, tests)
 * passes in how files are read. Paths are absolute, '/'-separated.
 */
export interface FileAccess {
  /** The file's text, or undefined when there is no such file. */
  readFile(path: string): string | undefined;
}

/** A FileAccess over an in-memory map; handy for tests and for unsaved editor buffers. */
export function memoryFiles(files: Record<string, string>, fallback?: FileAccess): FileAccess {
  return {
    readFile: (p) => (Object.prototype.hasOwnProperty.call(files, p) ? files[p] : fallback?.readFile(p)),
  };
}
