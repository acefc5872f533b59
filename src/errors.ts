/**
 * errors.ts — the one error class of gradsync and its factories.
 *
 * Every error a user can meet carries a stable code (GS_ERR_*), a message that names the
 * culprit (field, file and byte, peer) and, where it helps, a hint line saying what to do.
 * Library code throws these; only cli/main.ts turns them into exit codes.
 * Not here: logging, printing, exit codes.
 */

export type ErrorCode =
  | 'GS_ERR_CONFIG'
  | 'GS_ERR_USAGE'
  | 'GS_ERR_DATA'
  | 'GS_ERR_CHECKPOINT'
  | 'GS_ERR_WEIGHTS'
  | 'GS_ERR_SHAPE'
  | 'GS_ERR_GRADCHECK'
  | 'GS_ERR_NONFINITE'
  | 'GS_ERR_WIRE'
  | 'GS_ERR_EXECUTOR'
  | 'GS_ERR_AUTH'
  | 'GS_ERR_PROTOCOL'
  | 'GS_ERR_IO'
  | 'GS_ERR_KERNEL_PROFILE'
  | 'GS_ERR_NOT_IMPLEMENTED';

export class GradsyncError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Exit code the CLI uses: 2 for bad input (config, data, checkpoint, usage), 1 otherwise. */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, hint?: string, exitCode = 2) {
    super(message);
    this.name = 'GradsyncError';
    this.code = code;
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

export const Errors = {
  config: (field: string, message: string, hint?: string): GradsyncError =>
    new GradsyncError('GS_ERR_CONFIG', `config field "${field}": ${message}`, hint),
  usage: (message: string, hint?: string): GradsyncError => new GradsyncError('GS_ERR_USAGE', message, hint),
  data: (file: string, where: string, message: string, hint?: string): GradsyncError =>
    new GradsyncError('GS_ERR_DATA', `${file}${where ? ` (${where})` : ''}: ${message}`, hint),
  checkpoint: (file: string, message: string, hint?: string): GradsyncError =>
    new GradsyncError('GS_ERR_CHECKPOINT', `checkpoint ${file}: ${message}`, hint),
  /** A weights file (safetensors) that cannot be read or does not fit the model; `where` names the tensor or the byte. */
  weights: (file: string, where: string, message: string, hint?: string): GradsyncError =>
    new GradsyncError('GS_ERR_WEIGHTS', `${file}${where ? ` (${where})` : ''}: ${message}`, hint),
  shape: (message: string): GradsyncError => new GradsyncError('GS_ERR_SHAPE', message, undefined, 1),
  gradcheck: (message: string): GradsyncError => new GradsyncError('GS_ERR_GRADCHECK', message, undefined, 1),
  nonFinite: (message: string): GradsyncError => new GradsyncError('GS_ERR_NONFINITE', message, undefined, 1),
  wire: (message: string): GradsyncError => new GradsyncError('GS_ERR_WIRE', message, undefined, 1),
  executor: (message: string): GradsyncError => new GradsyncError('GS_ERR_EXECUTOR', message, undefined, 1),
  auth: (message: string): GradsyncError => new GradsyncError('GS_ERR_AUTH', message, undefined, 1),
  protocol: (message: string): GradsyncError => new GradsyncError('GS_ERR_PROTOCOL', message, undefined, 1),
  io: (message: string, hint?: string): GradsyncError => new GradsyncError('GS_ERR_IO', message, hint, 1),
  /** A run's kernel profile that this executor, these kernels or this checkpoint cannot follow. */
  kernelProfile: (message: string, hint?: string): GradsyncError => new GradsyncError('GS_ERR_KERNEL_PROFILE', message, hint),
  notImplemented: (what: string): GradsyncError =>
    new GradsyncError('GS_ERR_NOT_IMPLEMENTED', `${what} is not implemented yet`, undefined, 1),
};
