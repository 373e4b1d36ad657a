/**
 * Context keys for package.json `when` clauses: the views' edit action shows only where the active
 * kentry session's adapter can do it (MachineStateTracker sets them from the initialize response).
 * No vscode import, so the unit tests can hold package.json to the same names.
 */
export const CONTEXT_KEYS = {
  setVariable: 'kentry.supportsSetVariable',
  writeMemory: 'kentry.supportsWriteMemory',
} as const;
