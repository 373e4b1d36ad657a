import { exceptionName } from '../machine/facts/exceptions';

/**
 * An architectural exception raised while executing one instruction. Thrown inside the
 * executor (it is not an Error: no stack trace to build on a hot path) and turned into a
 * StepResult by Machine.step, which also rolls the instruction back.
 */
export class CpuFault {
  readonly name: string;
  constructor(
    readonly vector: number,
    readonly message: string,
    readonly errorCode?: number,
    readonly cr2?: bigint,
    /** Trap-type (INT3, INT n): delivery pushes the address of the next instruction. */
    readonly trap = false,
  ) {
    this.name = exceptionName(vector);
  }
}

export const UD = (message: string): CpuFault => new CpuFault(6, message);
export const GP = (errorCode: number, message: string): CpuFault => new CpuFault(13, message, errorCode);
