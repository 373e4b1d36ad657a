/** Registers the QEMU engine (launch.json `engine: "qemu"`); import this module once. */
import { registerEngine } from '../../engines';
import { QemuEngine, type QemuLaunchArguments } from './qemu-engine';

registerEngine('qemu', (args) => new QemuEngine(args as QemuLaunchArguments));

export { QemuEngine };
