// 16-bit float encodings (bf16, IEEE fp16) to and from fp32, bit-exact with the native
// conversions in native/src/cpu/dtype.h and with torch: round to nearest even, fp16
// overflow to +-inf, subnormals kept, NaN stays NaN. No addon import, so checkpoint code
// can use these without loading native code.

export function bf16ToFloat32(raw: Uint16Array): Float32Array {
  const bits = new Uint32Array(raw.length);
  for (let i = 0; i < raw.length; i++) bits[i] = raw[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** Round-to-nearest-even, NaN kept quiet. */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) {
      out[i] = (b >>> 16) | 0x40;
    } else {
      out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
  return out;
}

// fp16 -> fp32 is a lookup in a 65536-entry table (256 KiB), built on first use.
let f16Table: Float32Array | null = null;

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24; // zero, subnormal
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
}

export function f16ToFloat32(raw: Uint16Array): Float32Array {
  const table = (f16Table ??= buildF16Table());
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = table[raw[i]!]!;
  return out;
}

/** The smallest magnitude fp16 rounds to inf: halfway between its largest finite value, 65504, and 2^16. */
export const F16_OVERFLOW = 65520;

/**
 * Index of the first finite value that float32ToF16 turned into +-inf (|x| >= F16_OVERFLOW), or
 * -1: what an fp16 export checks before it writes `half`.
 */
export function firstF16Overflow(values: Float32Array, half: Uint16Array): number {
  for (let i = 0; i < half.length; i++) {
    if ((half[i]! & 0x7fff) === 0x7c00 && Number.isFinite(values[i]!)) return i;
  }
  return -1;
}

/** The error of an fp16 export whose `tensor` holds a value fp16 would store as inf (element `index`). */
export function f16OverflowMessage(tensor: string, value: number, index: number): string {
  return `tensor ${tensor} holds ${value} (element ${index}), which fp16 would store as inf (|x| >= ${F16_OVERFLOW}): ` +
    'write it as bf16 or fp32 instead (telechat-export --dtype; a run\'s own saves: model.dtype)';
}

/** Round-to-nearest-even; |x| >= 65520 becomes +-inf; NaN becomes a quiet NaN. */
export function float32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
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
