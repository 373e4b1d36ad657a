/**
 * Which engine a launch gets: launch.json `engine: "emulator"` (default) or `"qemu"`. Engines
 * other than the built-in emulator register themselves here (the QEMU engine calls
 * registerEngine('qemu', factory) when its module loads), so this file needs no import of them.
 */
import type { DebugEngine } from './engine';
import { EmulatorEngine, type EngineOptions } from './emulator-engine';
import type { KentryLaunchArguments } from './protocol';

export type EngineKind = NonNullable<KentryLaunchArguments['engine']>;
export type EngineFactory = (args: KentryLaunchArguments, opts: EngineOptions) => DebugEngine;

const factories = new Map<string, EngineFactory>([['emulator', (args, opts) => new EmulatorEngine(args, opts)]]);

export function registerEngine(kind: EngineKind, factory: EngineFactory): void {
  factories.set(kind, factory);
}

/** The engine for a launch, or an Error saying which engines exist. */
export function createEngine(args: KentryLaunchArguments, opts: EngineOptions): DebugEngine {
  const kind = args.engine ?? 'emulator';
  const factory = factories.get(kind);
  if (!factory) {
    throw new Error(`engine "${kind}" is not available (known: ${[...factories.keys()].join(', ')})`);
  }
  return factory(args, opts);
}

export type { EngineOptions };
