/**
 * initializationOptions and didChangeConfiguration settings come from JSON a user typed (or a
 * client got wrong): every field of the wrong type is dropped here, once, so the analysis never
 * meets `annotationNotes: true` or `includeDirs: "x"` (found by fuzzing: such a value made every
 * analysis of every document fail until the settings changed again).
 */
import type { KernelSettings, KentryServerOptions } from './protocol';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined);

/** Own keys with values of the wanted type, in a prototype-less record (`__proto__` is just a name). */
function recordOf<T>(v: unknown, keep: (x: unknown) => x is T): Record<string, T> | undefined {
  if (!isRecord(v)) return undefined;
  const out = Object.create(null) as Record<string, T>;
  for (const [k, x] of Object.entries(v)) if (keep(x)) out[k] = x;
  return out;
}
const isString = (x: unknown): x is string => typeof x === 'string';
const isBoolean = (x: unknown): x is boolean => typeof x === 'boolean';

function kernelSettings(v: unknown): KernelSettings | undefined {
  if (!isRecord(v) || typeof v.samplesDir !== 'string') return undefined;
  return {
    samplesDir: v.samplesDir,
    ...(typeof v.version === 'string' ? { version: v.version } : {}),
    ...(recordOf(v.config, isBoolean) ? { config: recordOf(v.config, isBoolean) } : {}),
    ...(typeof v.cpu === 'string' ? { cpu: v.cpu } : {}),
  };
}

/** The well-typed part of `v` as server options; anything else is left out (defaults apply). */
export function sanitizeServerOptions(v: unknown): KentryServerOptions {
  if (!isRecord(v)) return {};
  const out: KentryServerOptions = {};
  const notes = strings(v.annotationNotes);
  if (notes) out.annotationNotes = notes;
  const includeDirs = strings(v.includeDirs);
  if (includeDirs) out.includeDirs = includeDirs;
  const preIncludes = strings(v.preIncludes);
  if (preIncludes) out.preIncludes = preIncludes;
  const defines = recordOf(v.defines, isString);
  if (defines) out.defines = defines;
  const values = recordOf(v.values, isString);
  if (values) out.values = values;
  const kernel = kernelSettings(v.kernel);
  if (kernel) out.kernel = kernel;
  const delay = v.diagnosticsDelayMs;
  if (typeof delay === 'number' && Number.isFinite(delay) && delay >= 0) out.diagnosticsDelayMs = Math.min(delay, 60_000);
  return out;
}
