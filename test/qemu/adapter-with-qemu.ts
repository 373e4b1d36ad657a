/**
 * The stdio debug adapter with the QEMU engine registered, run from source (node -r tsx/cjs),
 * so the DAP test exercises the real session over the QEMU engine. (dist/debugAdapter.js has
 * it once debug-adapter/main.ts imports './engines/qemu'.)
 */
import '../../debug-adapter/engines/qemu';
import '../../debug-adapter/main';
