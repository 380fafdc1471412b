// Held-out evaluation end to end: eval_loss against the PyTorch reference loss of the
// checkpoint's weights over the eval rows, on 1 rank and on 2 ranks at ZeRO stage 3; the
// data.val_size split is the same whatever the world size; best / early stopping, also
// across a resume.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { readManifest } from '../../src/data/manifest.js';
import { DatasetReader } from '../../src/data/reader.js';
import { runPython } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { type Fixture, runTrain, TINY_MODEL, zeroConfig } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('eval');
let fx: Fixture;
let port = 29850 + Math.floor(Math.random() * 200);
const RAW = 'data/sample-conversations.jsonl';
/** Build options of the on-the-fly data: 30 conversations held out. */
const DATA = { max_seq_len: 96, template: 'telechat2', val_size: 30 };

interface EvalLine {
  step: number;
  eval_loss: number;
  eval_tokens: number;
  eval_ppl: number;
  per_source: Record<string, number>;
}

function evalLines(out: string): EvalLine[] {
  return readFileSync(join(out, 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EvalLine);
}

/** The built dataset's dir under OUT/data (one build per output dir). */
function builtDir(out: string): string {
  const dirs = readdirSync(join(out, 'data')).filter((d) => d.startsWith('dataset-'));
  expect(dirs).toHaveLength(1);
  return join(out, 'data', dirs[0]!);
}

/** PyTorch (fp64) loss over every label token of the eval set, with the weights of checkpoint-<step>/hf. */
async function referenceLoss(out: string, step: number): Promise<{ loss: number; count: number }> {
  const reader = DatasetReader.open(join(builtDir(out), 'val'));
  const rows = await reader.rows(Array.from({ length: reader.numRows }, (_, i) => i));
  await reader.close();
  const batch = join(tmp.dir, `batch-${step}-${Math.random()}.json`);
  writeFileSync(batch, JSON.stringify({ rows: rows.map((r) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), doc_lens: Array.from(r.docLens) })) }));
  const res = join(tmp.dir, `ref-${step}-${Math.random()}.safetensors`);
  const hf = join(out, `checkpoint-${String(step).padStart(6, '0')}`, 'hf');
  runPython('scripts/reference/telechat_ref.py', ['run', '--model', hf, '--batch', batch, '--out', res, '--dtype', 'fp64', '--no-grad', '--max-seq-len', '96']);
  const st = new SafetensorsReader(res);
  const f64 = (name: string): number => new Float64Array(st.readBytes(name).slice().buffer)[0]!;
  return { loss: f64('loss_sum') / f64('label_count'), count: f64('label_count') };
}

beforeAll(() => {
  const modelDir = join(tmp.dir, 'model');
  mkdirSync(modelDir, { recursive: true });
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(modelDir, f));
  writeFileSync(join(modelDir, 'config.json'), JSON.stringify({ ...TINY_MODEL, model_type: 'telechat', layer_norm_epsilon: 1e-5 }));
  fx = { modelConfig: join(modelDir, 'config.json'), data: RAW };
});
afterAll(() => tmp.cleanup());

describe('eval loss against the PyTorch reference', () => {
  // fp32 forward vs an fp64 reference: a few fp32 roundings per op over 2 layers of width 48,
  // averaged over ~1000 label tokens, stay far below 1e-6 relative.
  const TOL = 1e-6;
  const outs: Record<string, string> = {};

  it.each([
    ['1 rank, stage 0', 1, 0, 3, 4],
    ['1 rank, stage 3', 1, 3, 3, 4],
    ['2 ranks, stage 3', 2, 3, 3, 2],
  ] as const)('%s: eval_loss at steps 2 and 4 equals the reference within 1e-6', async (name, ranks, stage, micro, gas) => {
    const out = join(tmp.dir, `run-${ranks}-${stage}`);
    outs[name] = out;
    await runTrain(fx, out, ranks, { ...zeroConfig(stage, micro, gas, 4, {}, { save_steps: 2 }), data: DATA }, port++);
    const lines = evalLines(out);
    expect(lines.map((l) => l.step)).toEqual([2, 4]);
    for (const l of lines) {
      const ref = await referenceLoss(out, l.step);
      expect(l.eval_tokens).toBe(ref.count);
      expect(Math.abs(l.eval_loss - ref.loss) / ref.loss).toBeLessThan(TOL);
      expect(l.eval_ppl).toBeCloseTo(Math.exp(l.eval_loss), 9);
      expect(Object.values(l.per_source)).toEqual([l.eval_loss]); // one source
    }
    // learning shows in the held-out loss
    expect(lines[1]!.eval_loss).toBeLessThan(lines[0]!.eval_loss);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/eval step 4: eval_loss \d+\.\d{4}/);
  }, 300_000);

  it('the val split is the same on 1 and 2 ranks, counted in the manifest, and disjoint from training by content', async () => {
    const a = builtDir(outs['1 rank, stage 0']!);
    const b = builtDir(outs['2 ranks, stage 3']!);
    const ma = readManifest(a);
    const mb = readManifest(b);
    expect(mb.shards).toEqual(ma.shards);
    expect(readManifest(join(b, 'val')).shards).toEqual(readManifest(join(a, 'val')).shards);
    expect(ma.val_size).toBe(30);
    expect(ma.val!.conversations).toBe(30);
    const docsOf = async (dir: string): Promise<string[]> => {
      const r = DatasetReader.open(dir);
      const rows = await r.rows(Array.from({ length: r.numRows }, (_, i) => i));
      await r.close();
      const docs: string[] = [];
      for (const row of rows) {
        let at = 0;
        for (const n of row.docLens) {
          docs.push(Array.from(row.inputIds).slice(at, at + n).join(','));
          at += n;
        }
      }
      return docs;
    };
    const train = new Set(await docsOf(a));
    const val = await docsOf(join(a, 'val'));
    expect(val.length).toBe(ma.val!.documents);
    expect(val.filter((d) => train.has(d))).toEqual([]);
  });
});

describe('save_best and early stopping', () => {
  // lr 0: the weights never change, so the eval loss never improves after the first evaluation
  const frozen = (steps: number, training: Record<string, unknown>) => {
    const c = zeroConfig(2, 3, 4, steps, {}, { eval_steps: 1, save_steps: 0, save_best: true, ...training });
    return { ...c, optimizer: { type: 'AdamW', params: { lr: 0 } }, scheduler: undefined, data: DATA };
  };
  const state = (out: string, step: number) =>
    JSON.parse(readFileSync(join(out, `checkpoint-${String(step).padStart(6, '0')}`, 'trainer_state.json'), 'utf8')) as { eval: { best_step: number; evals_without_improvement: number } };

  it('stops after N evaluations without improvement, saves, keeps best, exits 0', async () => {
    const out = join(tmp.dir, 'early');
    await runTrain(fx, out, 1, frozen(10, { early_stopping_patience: 2, save_total_limit: 1 }), port++);
    expect(evalLines(out).map((l) => l.step)).toEqual([1, 2, 3]);
    expect(readFileSync(join(out, 'best'), 'utf8').trim()).toBe('checkpoint-000001');
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000003');
    // save_total_limit 1 keeps the newest, and never the one `best` names
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-000001', 'checkpoint-000003']);
    expect(existsSync(join(out, 'final', 'model.safetensors'))).toBe(true);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/early stopping: eval loss has not improved for 2 evaluation\(s\).*stopping at step 3 of 10/);
    expect(state(out, 3).eval).toMatchObject({ best_step: 1, evals_without_improvement: 2 });
  }, 120_000);

  it('a resume keeps best and patience', async () => {
    const out = join(tmp.dir, 'resume');
    await runTrain(fx, out, 1, frozen(2, { early_stopping_patience: 3 }), port++);
    expect(state(out, 2).eval).toMatchObject({ best_step: 1, evals_without_improvement: 1 });
    // two more evaluations without improvement reach patience 3 at step 4 (not 5)
    await runTrain(fx, out, 1, frozen(10, { early_stopping_patience: 3 }), port++, ['--resume', 'auto']);
    expect(evalLines(out).map((l) => l.step)).toEqual([1, 2, 3, 4]);
    expect(readFileSync(join(out, 'best'), 'utf8').trim()).toBe('checkpoint-000001');
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000004');
  }, 120_000);

  it('save_best follows the lowest eval loss of a learning run', async () => {
    const out = join(tmp.dir, 'run-1-0');
    const lines = evalLines(out);
    const best = lines.reduce((a, b) => (b.eval_loss < a.eval_loss ? b : a));
    expect(best.step).toBe(4);
    expect(existsSync(join(out, 'best'))).toBe(false); // save_best off: no pointer
  });
});
