// fp32 values to the bytes of a ggml tensor type. f16 and bf16 round to nearest even
// (src/native/half.ts, bit-exact with torch). Q8_0 and Q4_0 follow ggml's reference
// quantizers (quantize_row_q8_0_ref / quantize_row_q4_0_ref): blocks of 32 values along a
// row, each an fp16 scale d and the rounded values.
//   Q8_0: d = max|x| / 127, q = round(x / d) in [-127, 127] (int8).
//   Q4_0: m = the value of largest magnitude (with its sign), d = m / -8,
//         q = min(15, trunc(x / d + 8.5)) in [0, 15]; byte j holds q[j] | q[j + 16] << 4.
import { F16_OVERFLOW, f16OverflowMessage, firstF16Overflow, float32ToBf16, float32ToF16 } from '../native/half.js';
import { GgmlType } from './format.js';

const f16Scale = new Float32Array(1);

/** A block's scale as fp16 bits; one fp16 rounds to inf (a block whose largest |x| is millions) is refused. */
function fp16ScaleBits(d: number, name: string, block: number): number {
  if (Math.abs(d) >= F16_OVERFLOW) {
    throw new Error(`GGUF export: tensor ${name}, block ${block}: its scale ${d} is one fp16 would store as inf (|d| >= ${F16_OVERFLOW}), so the block cannot be quantized; write bf16 or fp32 instead (--dtype)`);
  }
  f16Scale[0] = d;
  return float32ToF16(f16Scale)[0]!;
}

function quantizeQ8_0(x: Float32Array, name: string): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, fp16ScaleBits(d, name, b), true);
    for (let j = 0; j < 32; j++) {
      // C's roundf: halves away from zero
      const v = Math.fround(x[b * 32 + j]! * id);
      view.setInt8(b * 34 + 2 + j, Math.sign(v) * Math.round(Math.abs(v)));
    }
  }
  return out;
}

function quantizeQ4_0(x: Float32Array, name: string): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 18, fp16ScaleBits(d, name, b), true);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(x[b * 32 + j]! * id);
      const x1 = Math.fround(x[b * 32 + 16 + j]! * id);
      const q0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/**
 * Bytes of tensor `name`'s `values` (row-major, rows a multiple of 32 long for the block types) as
 * `type`. A finite value that fp16 would store as inf (|x| >= 65520), or such a block scale, is an
 * error naming the tensor: llama.cpp would compute with inf.
 */
export function encodeTensor(name: string, values: Float32Array, type: GgmlType): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case GgmlType.F16: {
      const h = float32ToF16(values);
      const i = firstF16Overflow(values, h);
      if (i >= 0) throw new Error(`GGUF export: ${f16OverflowMessage(name, values[i]!, i)}`);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case GgmlType.BF16: {
      const b = float32ToBf16(values);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case GgmlType.Q8_0:
      return quantizeQ8_0(values, name);
    case GgmlType.Q4_0:
      return quantizeQ4_0(values, name);
  }
}
