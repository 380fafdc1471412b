// --device cpu | cuda | auto (src/train/device.ts) for every kind of machine: the rule only
// takes effect on a GPU, so each availability is passed in explicitly.
import { describe, expect, it } from 'vitest';
import { resolveDevice } from '../../src/train/device.js';

const noCudaBuild = { cuda: false, cudaDevices: 0 };
const noGpu = { cuda: true, cudaDevices: 0 };
const gpu = { cuda: true, cudaDevices: 8 };

describe('resolveDevice', () => {
  it('cpu is always the CPU', () => {
    for (const info of [noCudaBuild, noGpu, gpu]) expect(resolveDevice('cpu', 'bf16', info)).toEqual({ device: 'cpu', note: null });
  });

  it('cuda needs a CUDA build, a visible GPU and 16-bit training, and names what is missing', () => {
    expect(() => resolveDevice('cuda', 'bf16', noCudaBuild)).toThrow('--device cuda: this build has no CUDA backend');
    expect(() => resolveDevice('cuda', 'bf16', noGpu)).toThrow('--device cuda: no GPU is visible');
    expect(() => resolveDevice('cuda', 'fp32', gpu)).toThrow('--device cuda trains in bf16 or fp16');
    expect(resolveDevice('cuda', 'bf16', gpu)).toEqual({ device: 'cuda', note: null });
    expect(resolveDevice('cuda', 'fp16', gpu)).toEqual({ device: 'cuda', note: null });
  });

  it('auto takes the GPU only when cuda would work, and says why an fp32 run stays on the CPU', () => {
    expect(resolveDevice('auto', 'bf16', gpu)).toEqual({ device: 'cuda', note: null });
    expect(resolveDevice('auto', 'bf16', noGpu)).toEqual({ device: 'cpu', note: null });
    expect(resolveDevice('auto', 'bf16', noCudaBuild)).toEqual({ device: 'cpu', note: null });
    const fp32 = resolveDevice('auto', 'fp32', gpu);
    expect(fp32.device).toBe('cpu');
    expect(fp32.note).toMatch(/trains in fp32.*enable bf16/);
  });
});
