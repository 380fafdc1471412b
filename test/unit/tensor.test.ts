import { describe, expect, it } from 'vitest';
import { DType, MemCategory, alloc, bf16ToFloat32, float32ToBf16, fromFloat32, memStats } from '../../src/native/tensor.js';

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

  it('accounts bytes per category and frees deterministically', () => {
    const before = memStats().current.activations!;
    const t = alloc(DType.F32, [1000], MemCategory.Activations);
    expect(memStats().current.activations! - before).toBe(4032); // 4000 rounded up to 64
    t.free();
    expect(memStats().current.activations!).toBe(before);
    expect(() => t.free()).toThrow(/not a live buffer/);
  });
});
