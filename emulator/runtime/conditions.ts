/**
 * Conditions, hit counts and log messages of breakpoints (source, instruction and data alike),
 * all through the one expression evaluator. Evaluation errors never throw: a broken condition
 * stops with the error in the description, a broken log message prints the error inline.
 */
import type { EvalResult } from './evaluate';

export interface BreakpointOptions {
  condition?: string;
  hitCondition?: string;
  logMessage?: string;
}

/** One breakpoint's options and how often it was reached with its condition true. */
export class BreakpointBehaviour {
  hits = 0;
  constructor(readonly options: BreakpointOptions = {}, readonly label = 'Breakpoint') {}

  /**
   * Decide what reaching the breakpoint does: 'skip' (condition false or hit count not reached),
   * 'log' (print `message`), or 'stop' (with `error` when the condition could not be evaluated).
   */
  reached(evaluate: (expression: string) => EvalResult): { action: 'skip' } | { action: 'log'; message: string } | { action: 'stop'; error?: string } {
    const { condition, hitCondition, logMessage } = this.options;
    if (condition?.trim()) {
      const r = evaluate(condition);
      if ('error' in r) return { action: 'stop', error: `condition "${condition}": ${r.error}` };
      if (r.value === 0n) return { action: 'skip' };
    }
    this.hits++;
    if (hitCondition?.trim()) {
      const ok = hitConditionHolds(hitCondition, this.hits);
      if (typeof ok === 'string') return { action: 'stop', error: ok };
      if (!ok) return { action: 'skip' };
    }
    if (logMessage !== undefined && logMessage !== '') return { action: 'log', message: interpolate(logMessage, evaluate) };
    return { action: 'stop' };
  }
}

/** "5" or "== 5" (exactly the 5th), ">= 5", "> 5", "< 5", "<= 5", "% 5" (every 5th). A string is an error. */
export function hitConditionHolds(text: string, hits: number): boolean | string {
  const m = /^\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$/.exec(text);
  if (!m) return `hit count "${text}": expected a number, optionally after ==, >=, >, <=, < or %`;
  const n = Number(m[2]);
  switch (m[1]) {
    case '>=': return hits >= n;
    case '>': return hits > n;
    case '<=': return hits <= n;
    case '<': return hits < n;
    case '%': return n > 0 && hits % n === 0;
    default: return hits === n;
  }
}

/** "rax={$rax} sp2={this_cpu(cpu_tss_rw).x86_tss.sp2}" with each {expression} evaluated (hex). */
export function interpolate(message: string, evaluate: (expression: string) => EvalResult): string {
  return message.replace(/\{([^{}]+)\}/g, (_, expr: string) => {
    const r = evaluate(expr);
    return 'error' in r ? `<${r.error}>` : `0x${r.value.toString(16)}`;
  });
}
