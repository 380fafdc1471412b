// The PyTorch peers of bench:core / bench:train (scripts/bench/core_torch.py) run the batch the
// harness passes (BENCH_SHAPE, in the config JSON), not one of their own: before, they hard-coded
// 4 x 1024, so a change of BENCH_SHAPE would have timed ours and PyTorch on different tokens and
// published the ratio. The peer echoes the batch it ran and the harness refuses any other.
// A tiny model and batch keep this to a second or two of PyTorch.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BENCH_SHAPE, checkPeerShape } from '../../src/bench/core_config.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TINY = { hidden_size: 32, n_layer: 1, n_head: 2, ffn_hidden_size: 48, vocab_size: 64 };

function coreTorch(cfg: Record<string, unknown>, ...flags: string[]) {
  return spawnSync('/usr/bin/python3', [join(ROOT, 'scripts/bench/core_torch.py'), JSON.stringify(cfg), '1', '1', ...flags], { encoding: 'utf8' });
}

describe('PyTorch peer shape', () => {
  it('core_torch.py runs the batch in the config JSON and says which', () => {
    for (const flags of [[], ['--train'], ['--train', '--lora', '4']]) {
      const res = coreTorch({ ...TINY, shape: { batch: 3, seqLen: 16 }, train: { lr: 1e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1, clip: 1 } }, ...flags);
      expect(res.status, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { batch: number; seq_len: number; tokens_per_s: number; step_s: number };
      expect([out.batch, out.seq_len], flags.join(' ')).toEqual([3, 16]);
      expect(out.tokens_per_s * out.step_s).toBeCloseTo(48, 6);
      // and the build its numbers come from (scripts/bench/torch_build.py): the BLAS it loaded
      const build = (out as unknown as { build: { blas_info: unknown; blas_loaded: unknown } }).build;
      expect(typeof build.blas_info).toBe('string');
      expect(Array.isArray(build.blas_loaded)).toBe(true);
    }
  });

  it('core_torch.py without a shape is refused by name', () => {
    const res = coreTorch(TINY);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('core_torch.py: the config JSON has no "shape"');
  });

  it('the harness refuses a peer result of another batch', () => {
    expect(() => checkPeerShape('core_torch.py', { batch: BENCH_SHAPE.batch, seq_len: BENCH_SHAPE.seqLen })).not.toThrow();
    expect(() => checkPeerShape('core_torch.py', { batch: 4, seq_len: 512 })).toThrow(`core_torch.py ran a batch of 4 x 512 tokens, ours ${BENCH_SHAPE.batch} x ${BENCH_SHAPE.seqLen}`);
    expect(() => checkPeerShape('core_torch.py', {})).toThrow('ran a batch of undefined x undefined tokens');
  });
});
