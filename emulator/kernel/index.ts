/** The kernel side of kentry: profiles, sources, boot, models, and the machine-state view. */
export * from './profiles';
export * from './generated-headers';
export * from './sources';
export * from './boot';
export * from './layout';
export * from './alternatives';
export * from './pagetables';
export * from './run';
export * from './inspect';
export type { KernelModel, ModelContext, ModelOutcome } from './models/types';
export { doSyscall64Model, stackleakEraseModel, copyFromUser } from './models/do-syscall-64';
export { CLOBBERED_BY_C, CLOBBER_VALUE } from './models/c-abi';
export * from './real-tree';
export { adjustForVersion } from './profiles-6x';
