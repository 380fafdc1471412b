// What the HF import needs from one checkpoint file, whatever its format (safetensors or a
// PyTorch .bin archive): tensor names, dtypes and shapes, and each tensor's bytes on demand.
import type { FileDtype } from './dtypes.js';

export interface TensorInfo {
  name: string;
  dtype: FileDtype;
  shape: number[];
}

export interface TensorFile {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  info(name: string): TensorInfo;
  /** The tensor's elements, row-major (contiguous), little-endian. */
  readBytes(name: string): Uint8Array;
  readFloat32(name: string): Float32Array;
  close(): void;
}
