/**
 * index.ts — the typed API of gradsync for people who use it from their own code.
 * The CLI is built on exactly these functions.
 */

export { GradsyncError, Errors, type ErrorCode } from './errors';
export { validate as validateConfig } from './config/validate';
export { loadConfigFile } from './config/load';
export { DEFAULTS, type RunConfig, type TrainConfig } from './config';
export { alloc, type DType, type Float } from './tensor/dtype';
export { Rng } from './tensor/rng';
export { referenceKernels } from './tensor/reference-kernels';
export { KERNEL_SPEC_VERSION, type KernelSet, type Activation } from './tensor/kernels';
export { selectKernels, kernelInfo } from './tensor/select';
export { Model } from './model/model';
export { type ModelSpec, type LayerSpec, type LossKind } from './model/spec';
export { layoutOf, initParams, paramsSha256, type InitSpec } from './model/params';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './model/gradcheck';
export { train, type TrainOptions, type TrainSummary } from './train/loop';
export { readCheckpoint, writeCheckpoint, type Checkpoint } from './train/checkpoint';
export { loadRunData, modelSpecOf } from './train/setup';
export { fromArrays, type ArrayData, type FlatArray } from './data/arrays';
export { type Dataset } from './data/dataset';
export { evaluate } from './train/evaluate';
export type { StepRecord, LayerRecord, Diagnosis } from './observe/schema';
export { toOnnx, ONNX_OPSET, ONNX_INPUT, ONNX_OUTPUT, type OnnxOptions } from './export/onnx';
export { toSafetensors, stateDictOf, loadStateDict } from './export/state-dict';
export { encodeSafetensors, decodeSafetensors, type SafetensorsContents } from './export/safetensors';
export { sequentialOf, sequentialSource } from './export/layers';
