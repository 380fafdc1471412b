// Element types of checkpoint files and conversion of their raw bytes to and from fp32.
import { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 } from '../native/half.js';

export type FileDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'U8' | 'I8' | 'BOOL';

export const FILE_DTYPE_SIZE: Record<FileDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, U8: 1, I8: 1, BOOL: 1 };

export function isFileDtype(s: string): s is FileDtype {
  return Object.prototype.hasOwnProperty.call(FILE_DTYPE_SIZE, s);
}

/** Decodes little-endian bytes of a float dtype into fp32 (fp64 rounds). */
export function bytesToFloat32(bytes: Uint8Array, dtype: FileDtype): Float32Array {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
    case 'BF16':
      return bf16ToFloat32(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2));
    case 'F16':
      return f16ToFloat32(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2));
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8));
    default:
      throw new Error(`dtype ${dtype} is not a floating-point type`);
  }
}

/** Encodes fp32 values as little-endian bytes of a float dtype (round to nearest even). */
export function float32ToBytes(values: Float32Array, dtype: FileDtype): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case 'BF16': {
      const b = float32ToBf16(values);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case 'F16': {
      const h = float32ToF16(values);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case 'F64': {
      const d = Float64Array.from(values);
      return new Uint8Array(d.buffer);
    }
    default:
      throw new Error(`dtype ${dtype} is not a floating-point type`);
  }
}
