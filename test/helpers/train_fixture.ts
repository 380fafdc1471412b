// A tiny model directory (config + the shipped tokenizer, random init) and a dataset built
// from the shipped sample conversations, for tests that run telechat-train end to end.
import { spawnSync } from 'node:child_process';
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

/** Runs telechat-train on `ranks` processes (through telechat-launch when > 1); returns metrics.jsonl. */
export function runTrain(fx: Fixture, out: string, ranks: number, config: Record<string, unknown>, port: number): Metrics {
  const cfgPath = `${out}.config.json`;
  writeFileSync(cfgPath, JSON.stringify(config));
  const init = fx.model ? ['--model', fx.model] : ['--init', 'random', '--model-config', fx.modelConfig];
  const trainArgs = [TRAIN_CLI, '--config', cfgPath, ...init, '--data', fx.data, '--output-dir', out];
  const args = ranks > 1 ? [LAUNCH_CLI, '--nproc-per-node', String(ranks), '--master-port', String(port), '--', process.execPath, ...trainArgs] : trainArgs;
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (res.status !== 0) throw new Error(`telechat-train on ${ranks} rank(s) failed (${res.status}):\n${res.stderr}\n${res.stdout.slice(-2000)}`);
  return readFileSync(`${out}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Metrics[number]);
}
