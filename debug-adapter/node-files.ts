/** FileAccess over the local disk, for the adapter and the CLI (the engine itself does no I/O). */
import * as fs from 'fs';
import type { FileAccess } from '../emulator/host';

export const nodeFiles: FileAccess = {
  readFile(p: string): string | undefined {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
};
