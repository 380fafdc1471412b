// Random initialisation writes tensors in pieces through one staging array: the values must be
// exactly one whole-tensor draw from the seeded stream, for tensors longer than a piece (odd
// lengths included, where the last Box-Muller pair keeps one value), in fp32 and bf16.
import { describe, expect, it } from 'vitest';
import { fillNormal, initRandomEntries, PIECE, seededUniform } from '../../src/model/init.js';
import type { ParamEntry, ParamViews } from '../../src/model/params.js';
import { alloc, DType, MemCategory, type Tensor } from '../../src/native/tensor.js';
import { bf16ToFloat32, float32ToBf16 } from '../../src/native/half.js';

function viewsOf(entries: ParamEntry[], dtype: DType): { views: ParamViews; tensors: Map<string, Tensor> } {
  const tensors = new Map(entries.map((e) => [e.name, alloc(dtype, e.shape, MemCategory.Params)] as const));
  const tensor = (name: string): Tensor => tensors.get(name)!;
  // initRandomEntries reaches its tensors through tensor() only
  const views = { tensor } as unknown as ParamViews;
  return { views, tensors };
}

describe('initRandomEntries', () => {
  const entries: ParamEntry[] = [
    { name: 'big', shape: [PIECE * 2 + 3], kind: 'embedding', offset: 0, numel: PIECE * 2 + 3 },
    { name: 'bias', shape: [5], kind: 'bias', offset: 0, numel: 5 },
    { name: 'norm', shape: [7], kind: 'norm', offset: 0, numel: 7 },
    { name: 'small', shape: [3, 5], kind: 'matrix', offset: 0, numel: 15 },
  ];
  // the same stream drawn tensor by tensor into whole arrays
  const expected = (): Map<string, Float32Array> => {
    const uniform = seededUniform(11);
    const out = new Map<string, Float32Array>();
    for (const e of entries) {
      const v = new Float32Array(e.numel);
      if (e.kind === 'norm') v.fill(1);
      else if (e.kind !== 'bias') fillNormal(v, 0.02, uniform);
      out.set(e.name, v);
    }
    return out;
  };

  for (const dtype of [DType.F32, DType.BF16]) {
    it(`writes one whole-tensor draw per entry (${dtype === DType.F32 ? 'fp32' : 'bf16'})`, () => {
      const { views, tensors } = viewsOf(entries, dtype);
      // leftovers in a tensor must not survive: biases are written, not skipped
      tensors.get('bias')!.writeFloat32(new Float32Array(5).fill(9));
      initRandomEntries(views, entries, 0.02, seededUniform(11));
      for (const [name, want] of expected()) {
        const got = tensors.get(name)!.toFloat32();
        const ref = dtype === DType.F32 ? want : bf16ToFloat32(float32ToBf16(want));
        expect(got.length).toBe(ref.length);
        expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer)), name).toBe(true);
      }
      for (const t of tensors.values()) t.free();
    });
  }
});
