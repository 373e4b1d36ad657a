/** The machine's facts: one home for numbers the CPU, the views and the hovers all read. */
export * from './bits';
export * from './rflags';
export * from './control-registers';
export * from './msrs';
export * from './segments';
export * from './pt-regs';
export * from './tss';
export * from './paging';
export * from './exceptions';
export * from './nops';
