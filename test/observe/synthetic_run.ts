// A synthetic output dir for report tests: N steps of plausible metrics, eval points,
// a resolved config, and run.json pointing at a real dataset dir (so the report shows a row).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepMetrics } from '../../src/observe/step_metrics.js';
import { writeRunFacts } from '../../src/observe/run_info.js';

export function syntheticMetrics(n: number): StepMetrics[] {
  const out: StepMetrics[] = [];
  for (let i = 1; i <= n; i++) {
    const t = i / n;
    out.push({
      step: i,
      epoch: Math.floor((i - 1) / 1000),
      loss: 2 + 6 * Math.exp(-5 * t) + 0.1 * Math.sin(i * 0.7),
      lr: 1e-4 * Math.min(1, i / 100) * (0.5 + 0.5 * Math.cos(Math.PI * t)),
      grad_norm: 0.5 + Math.exp(-3 * t) + 0.05 * Math.cos(i),
      loss_scale: 1,
      tokens: 8192,
      loss_tokens: 4000 + (i % 50),
      step_time_s: 0.5 + 0.01 * Math.sin(i),
      tokens_per_s: 16000 + 500 * Math.sin(i / 10),
      mfu: 0.4 + 0.02 * Math.sin(i / 7),
      mem: { params: 2e9, grads: 2e9, master: 4e9, optim: 8e9, activations: 3e9 + 1e8 * Math.sin(i), buffers: 5e8 },
    });
  }
  return out;
}

export function writeSyntheticRun(dir: string, steps: number, datasetDir: string, evalEvery = 0): StepMetrics[] {
  mkdirSync(dir, { recursive: true });
  const metrics = syntheticMetrics(steps);
  writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join(''));
  if (evalEvery > 0) {
    const evals = [];
    for (let s = evalEvery; s <= steps; s += evalEvery) evals.push({ step: s, eval_loss: 2.5 + 5 * Math.exp(-5 * (s / steps)), eval_tokens: 1000, eval_ppl: 0, per_source: {} });
    writeFileSync(join(dir, 'eval.jsonl'), evals.map((e) => JSON.stringify(e) + '\n').join(''));
  }
  writeFileSync(join(dir, 'resolved-config.json'), JSON.stringify({ train_batch_size: 16, zero_optimization: { stage: 3 }, run: { world_size: 8, precision: 'bf16', total_steps: steps } }, null, 2));
  writeRunFacts(dir, {
    layout: 'telechat', parameters: 7_000_000_000, precision: 'bf16', zero_stage: 3, world_size: 8, device: 'cuda', dataset_dir: datasetDir,
    total_steps: steps, train_batch_size: 16, started_at: '2026-01-01T00:00:00.000Z', start_step: 0,
  });
  return metrics;
}
