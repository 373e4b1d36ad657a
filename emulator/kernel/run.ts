/**
 * The smallest loop that runs a booted system: step the CPU, and when RIP reaches a modelled C
 * function, run its model instead. The debugger runtime has its own richer loop; tests and the
 * CLI use this one.
 */
import type { StepResult } from '../machine/machine';
import type { BootedSystem } from './boot';
import type { ModelOutcome } from './models/types';

export type SystemStep =
  | { kind: 'cpu'; result: StepResult }
  | { kind: 'model'; symbol: string; outcome: ModelOutcome };

/** One instruction, or one whole model call. */
export function stepSystem(system: BootedSystem, console: (text: string) => void = () => undefined): SystemStep {
  const model = system.models.get(system.machine.state.rip);
  if (model) return { kind: 'model', symbol: model.symbol, outcome: model.run({ system, console }) };
  return { kind: 'cpu', result: system.machine.step() };
}

export interface RunResult {
  /** Why the run ended. */
  stop: 'exit' | 'exception' | 'model-error' | 'halt' | 'budget' | 'until';
  exitCode?: number;
  detail?: string;
  steps: number;
  models: { symbol: string; summary: string }[];
}

/** Run until the process exits, something goes wrong, `until` says so, or `budget` steps pass. */
export function runSystem(
  system: BootedSystem,
  opts: { budget?: number; console?: (text: string) => void; until?: (system: BootedSystem) => boolean } = {},
): RunResult {
  const budget = opts.budget ?? 100_000;
  const models: RunResult['models'] = [];
  for (let steps = 0; steps < budget; ) {
    if (opts.until?.(system)) return { stop: 'until', steps, models };
    const r = stepSystem(system, opts.console);
    steps++;
    if (r.kind === 'model') {
      const o = r.outcome;
      if (o.kind === 'error') return { stop: 'model-error', detail: o.message, steps, models };
      models.push({ symbol: r.symbol, summary: o.summary });
      if (o.kind === 'exit') return { stop: 'exit', exitCode: o.code, steps, models };
    } else if (r.result.kind === 'exception') {
      return { stop: 'exception', detail: `${r.result.name} at 0x${r.result.rip.toString(16)}: ${r.result.message}`, steps, models };
    } else if (r.result.kind !== 'ok') {
      return { stop: r.result.kind === 'halt' ? 'halt' : 'exception', detail: r.result.kind, steps, models };
    }
  }
  return { stop: 'budget', steps: budget, models };
}
