/**
 * Virtual generated-header paths (`/kentry-generated/generated/asm-offsets.h`) <-> the URIs the
 * editor opens (`kentry-generated:/generated/asm-offsets.h`). Pure string work, shared by the
 * server and the extension, so both spell the URI the same way.
 */
import { GENERATED_DIR } from '../emulator/kernel/generated-headers';
import { GENERATED_SCHEME } from './protocol';

/** True for a path under the in-memory generated directory. */
export function isGeneratedPath(file: string): boolean {
  return file.startsWith(`${GENERATED_DIR}/`);
}

/** `/kentry-generated/generated/asm-offsets.h` -> `kentry-generated:/generated/asm-offsets.h`. */
export function generatedUriOf(file: string): string {
  return `${GENERATED_SCHEME}:${file.slice(GENERATED_DIR.length)}`;
}

/** The virtual path a GENERATED_SCHEME URI stands for; undefined for any other URI. */
export function generatedPathOf(uri: string): string | undefined {
  const prefix = `${GENERATED_SCHEME}:`;
  if (!uri.startsWith(prefix)) return undefined;
  // Editors may write the empty authority (`kentry-generated:///generated/...`) or percent-escape.
  let rest = decodeURIComponent(uri.slice(prefix.length)).replace(/^\/\/[^/]*/, '');
  if (!rest.startsWith('/')) rest = `/${rest}`;
  // No `..` escapes out of the virtual directory.
  return rest.split('/').includes('..') ? undefined : `${GENERATED_DIR}${rest}`;
}

/**
 * An unbuilt real tree's include/generated/ headers exist only in memory too (emulator/kernel/real-tree.ts):
 * `<root>/include/generated/asm-offsets.h` is shown as `kentry-generated:/tree<root>/include/generated/asm-offsets.h`.
 */
export const IN_MEMORY_TREE_DIR = `${GENERATED_DIR}/tree`;

export function inMemoryTreePath(file: string): string {
  return `${IN_MEMORY_TREE_DIR}${file}`;
}
