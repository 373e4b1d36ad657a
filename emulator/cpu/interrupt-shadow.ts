/**
 * Machine.interruptShadow values (SDM vol. 3, 6.8.3 "Masking Exceptions and Interrupts When
 * Switching Stacks"): what the instruction just executed holds back at the next boundary.
 */
export const NO_SHADOW = 0;
/** STI that set IF: maskable interrupts wait one more instruction. */
export const SHADOW_STI = 1;
/** MOV SS / POP SS: interrupts, single-step and data-breakpoint traps wait one more instruction. */
export const SHADOW_MOV_SS = 2;
export type InterruptShadow = typeof NO_SHADOW | typeof SHADOW_STI | typeof SHADOW_MOV_SS;
