// A tiny model directory (config + the shipped tokenizer, random init) and a dataset built
// from the shipped sample conversations, for tests that run telechat-train end to end.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildDataset } from '../../src/data/builder.js';

export const TRAIN_CLI = resolve('dist/cli/train.js');
export const LAUNCH_CLI = resolve('dist/cli/launch.js');

export interface Fixture {
  modelConfig: string;
  data: string;
  /** A checkpoint dir to start from (--model) instead of the seeded random init. */
  model?: string;
}

export async function makeFixture(dir: string, config: Record<string, unknown>, maxSeqLen = 96): Promise<Fixture> {
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir, { recursive: true });
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(modelDir, f));
  writeFileSync(join(modelDir, 'config.json'), JSON.stringify(config));
  const data = join(dir, 'data');
  await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: modelDir, output: data, maxSeqLen, template: 'telechat2', seed: 1 });
  return { modelConfig: join(modelDir, 'config.json'), data };
}

export type Metrics = Array<Record<string, number> & { mem: Record<string, number> }>;

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the test worker's event loop (a long synchronous child
 * would starve vitest's own messages).
 */
export function runAsync(args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, OMP_NUM_THREADS: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs telechat-train on `ranks` processes (through telechat-launch when > 1); returns metrics.jsonl. */
export async function runTrain(fx: Fixture, out: string, ranks: number, config: Record<string, unknown>, port: number, extraArgs: string[] = []): Promise<Metrics> {
  const cfgPath = `${out}.config-${Math.random()}.json`;
  writeFileSync(cfgPath, JSON.stringify(config));
  const init = fx.model ? ['--model', fx.model] : ['--init', 'random', '--model-config', fx.modelConfig];
  const trainArgs = [TRAIN_CLI, '--config', cfgPath, ...init, '--data', fx.data, '--output-dir', out, ...extraArgs];
  const args = ranks > 1 ? [LAUNCH_CLI, '--nproc-per-node', String(ranks), '--master-port', String(port), '--', process.execPath, ...trainArgs] : trainArgs;
  const res = await runAsync(args);
  if (res.status !== 0) throw new Error(`telechat-train on ${ranks} rank(s) failed (${res.status}):\n${res.stderr}\n${res.stdout.slice(-2000)}`);
  return readFileSync(`${out}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Metrics[number]);
}

/**
 * A training config for a global batch of 12 rows split into micro-batches and accumulation
 * steps, with ZeRO stage `stage`: AdamW, WarmupCosineLR, clipping 1.0, `steps` steps.
 */
export function zeroConfig(stage: number, micro: number, gas: number, steps: number, extra: Record<string, unknown> = {}, training: Record<string, unknown> = {}) {
  return {
    train_batch_size: 12, train_micro_batch_size_per_gpu: micro, gradient_accumulation_steps: gas, gradient_clipping: 1.0,
    optimizer: { type: 'AdamW', params: { lr: 5e-3, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 } },
    scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: steps, warmup_num_steps: 3 } },
    zero_optimization: { stage, ...(stage === 3 ? { stage3_param_persistence_threshold: 0 } : {}) },
    training: { max_steps: steps, max_seq_len: 96, seed: 11, ...training },
    ...extra,
  };
}

/** The tiny model the ZeRO and checkpoint tests train (hidden 48, GQA, the shipped 4000-piece vocabulary). */
export const TINY_MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: 48, n_layer: 2, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 80, vocab_size: 4000, tie_word_embeddings: false, training_seqlen: 96, initializer_range: 0.05,
};
