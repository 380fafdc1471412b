import { describe, expect, it } from 'vitest';
import {
  DType, MemCategory, alloc, bf16ToFloat32, dtypeName, dtypeSize, float32ToBf16, fromFloat32, memStats,
} from '../../src/native/tensor.js';

describe('native tensors', () => {
  it('round-trips fp32 and rounds bf16 to nearest even', () => {
    const values = new Float32Array([1.5, -2.25, 3.14159, 1e-3, 65504]);
    const f = fromFloat32(values, DType.F32, [5], MemCategory.Buffers);
    expect(Array.from(f.toFloat32())).toEqual(Array.from(values));
    f.free();
    const b = fromFloat32(values, DType.BF16, [5], MemCategory.Buffers);
    expect(Array.from(b.toFloat32())).toEqual([1.5, -2.25, 3.140625, 0.00099945068359375, 65536]); // as torch .bfloat16()
    b.free();
    // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa (1) wins; 1 + 3*2^-8 rounds up.
    const ties = bf16ToFloat32(float32ToBf16(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8])));
    expect(Array.from(ties)).toEqual([1, 1 + 2 ** -6]);
  });

  it('stores fp16 (2 bytes, rounded to nearest even, overflow to inf) and names all dtypes', () => {
    expect([DType.F32, DType.BF16, DType.F16].map((d) => [dtypeName(d), dtypeSize[d]])).toEqual(
      [['fp32', 4], ['bf16', 2], ['fp16', 2]]);
    const values = new Float32Array([1.5, -2.25, 3.14159, 1e-3, 65504, 65520, 1e-8]);
    const h = fromFloat32(values, DType.F16, [7], MemCategory.Buffers);
    expect(h.bytes).toBe(14);
    // As torch .half(): 3.14159 -> 3.140625, 1e-3 -> 0.0010004, 65520 -> inf, 1e-8 -> 0 (below 2^-25).
    expect(Array.from(h.toFloat32())).toEqual([1.5, -2.25, 3.140625, 0.00100040435791015625, 65504, Infinity, 0]);
    h.free();
  });

  it('accounts bytes per category and frees deterministically', () => {
    const before = memStats().current.activations!;
    const t = alloc(DType.F32, [1000], MemCategory.Activations);
    expect(memStats().current.activations! - before).toBe(4032); // 4000 rounded up to 64
    t.free();
    expect(memStats().current.activations!).toBe(before);
    expect(() => t.free()).toThrow(/not a live buffer/);
  });
});
