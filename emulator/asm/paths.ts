/**
 * POSIX path helpers for the engine, which may not use node:path (it runs wherever the host
 * runs and reads files only through FileAccess). Paths are absolute and '/'-separated.
 */

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** Join and normalise ('.' and '..' segments removed). An absolute `rel` wins. */
export function joinPath(dir: string, rel: string): string {
  const full = rel.startsWith('/') ? rel : `${dir}/${rel}`;
  const out: string[] = [];
  for (const seg of full.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}
