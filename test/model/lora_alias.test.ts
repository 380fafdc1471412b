// loraBackward may write dx over its input x only when one adapter sits on the projection: a
// second adapter would read the first one's dx as its input (block.ts writes dh over h this way).
import { describe, expect, it } from 'vitest';
import { type BlockLora, loraBackward } from '../../src/model/lora.js';
import { Arena, DType, MemCategory } from '../../src/native/tensor.js';

describe('loraBackward with dx over x', () => {
  it('is refused with two adapters on one projection, before anything runs', () => {
    const arena = new Arena(MemCategory.Activations);
    const x = arena.alloc(DType.F32, [4, 8]);
    const dy = arena.alloc(DType.F32, [4, 16]);
    const target = (rowStart: number) => ({ canonical: 'gate_up' as const, rowStart, out: 8, in: 8, width: 16 });
    // only the targets are read before the refusal; the rest would fail loudly if touched
    const lora = { targets: [target(0), target(8)] } as unknown as BlockLora;
    expect(() => loraBackward(lora, 'gate_up', x, dy, x, false)).toThrow('loraBackward: dx over x with more than one adapter on gate_up');
    arena.freeAll();
  });
});
