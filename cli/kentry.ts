/**
 * kentry command line: `kentry trace [--kernel-entry F] [--program F] [--cpu intel|amd] [--max N]`.
 * With no options it traces the bundled sample: the ring-3 program's getpid, write and exit
 * through the annotated v5.8 entry_SYSCALL_64.
 */
import * as path from 'path';
import { nodeFiles } from '../debug-adapter/node-files';
import { runTrace } from './trace';

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== 'trace') {
    console.error('usage: kentry trace [--kernel-entry FILE.S] [--program FILE.S] [--cpu intel|amd] [--kernel-version 5.8] [--max N]');
    return 2;
  }
  const opt = (name: string): string | undefined => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const abs = (p: string | undefined): string | undefined => (p ? path.resolve(p) : undefined);
  const samplesDir = process.env.KENTRY_SAMPLES_DIR ?? path.resolve(__dirname, '..', 'samples');
  try {
    return runTrace({
      fs: nodeFiles,
      samplesDir,
      kernelEntry: abs(opt('kernel-entry')),
      program: abs(opt('program')),
      cpu: opt('cpu'),
      kernelVersion: opt('kernel-version'),
      maxInstructions: opt('max') ? Number(opt('max')) : undefined,
      write: (line) => process.stdout.write(line + '\n'),
    });
  } catch (e) {
    console.error(`kentry: internal error: ${(e as Error).stack}`);
    return 3;
  }
}

process.exitCode = main(process.argv.slice(2));
