// Element types of checkpoint files and conversion of their raw bytes to and from fp32.
import { bf16ToFloat32, float32ToBf16 } from '../native/tensor.js';

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

export function f16ToFloat32(raw: Uint16Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const h = raw[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

export function float32ToF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00; // overflow -> inf
      continue;
    }
    if (e <= 0) {
      // subnormal half: shift the implicit 1 in, round to nearest even
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into the exponent: correct
    e = half >>> 10;
    out[i] = sign | (e >= 31 ? 0x7c00 : half);
  }
  return out;
}
