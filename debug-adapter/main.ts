/** Standalone debug adapter over stdio: `node dist/debugAdapter.js` (launch.json "debugServer" or the server mode). */
import * as path from 'path';
import { KentryDebugSession } from './session';
import { nodeFiles } from './node-files';
// Engines beyond the built-in emulator register themselves when loaded.
import './engines/qemu';

const samplesDir = process.env.KENTRY_SAMPLES_DIR ?? path.resolve(__dirname, '..', 'samples');
const session = new KentryDebugSession({ fs: nodeFiles, samplesDir });
process.on('SIGTERM', () => session.shutdown());
session.start(process.stdin, process.stdout);
