// The GPU check scripts must keep working as the code changes: a future GPU session gets one
// run of them. scripts/device/cuda_vs_cpu.mjs runs here over the stand-in CUDA runtime
// (src/native/host_cuda.ts), which executes the CPU kernels, so every comparison must hold
// exactly; this proves the script (its imports, calls and expected messages), not the kernels.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('device-scripts');
afterAll(() => tmp.cleanup());

describe('GPU check scripts over the stand-in runtime', () => {
  it('cuda_vs_cpu.mjs runs every check and they all pass', () => {
    const out = join(tmp.dir, 'vs.jsonl');
    execFileSync(process.execPath, ['scripts/device/cuda_vs_cpu.mjs', out, '--standin'], { stdio: 'pipe' });
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { name?: string; pass?: boolean; summary?: boolean; failures?: number });
    const checks = rows.filter((r) => !r.summary);
    expect(checks.filter((r) => !r.pass)).toEqual([]);
    expect(rows.at(-1)).toEqual({ summary: true, failures: 0 });
    // every op family is reached, including the tiny model's attention shape and the flat ops
    for (const name of ['add/bf16', 'embeddingBackward/bf16', 'rmsnormBackward/dx/fp32', 'crossEntropy/grad/V70000/bf16', 'adamw/master/bf16',
      'backend/adamw/master', 'dropout/mask/bf16', 'dropoutBackward/fp32', 'cast/f32->bf16 bit-exact', 'attentionBackward/dqkv/h4-2-d32', 'loraBackward/gb/bf16',
      'linearBackward/dw-dx-over-x/bf16', 'loraBackward/dx-over-x/fp32', 'host-tensor-rejected']) {
      expect(checks.map((r) => r.name), name).toContain(name);
    }
  }, 120_000);
});
