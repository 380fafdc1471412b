// Held-out evaluation end to end: eval_loss against the PyTorch reference loss of the
// checkpoint's weights over the eval rows, on 1 rank and on 2 ranks at ZeRO stage 3; the
// data.val_size split is the same whatever the world size; best / early stopping, also
// across a resume.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { buildDataset } from '../../src/data/builder.js';
import { readManifest } from '../../src/data/manifest.js';
import { DatasetReader } from '../../src/data/reader.js';
import type { Row } from '../../src/model/batch.js';
import { runPython } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { type Fixture, runTrain, TINY_MODEL, zeroConfig } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('eval');
let fx: Fixture;
let port = 29850 + Math.floor(Math.random() * 200);
const RAW = 'data/sample-conversations.jsonl';
/** Build options of the on-the-fly data: 30 conversations held out. */
const DATA = { max_seq_len: 96, template: 'telechat2', val_size: 30 };
const NO_VAL = { max_seq_len: 96, template: 'telechat2' };

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

/** PyTorch (fp64) loss over `rows` with the weights of checkpoint-<step>/hf. */
async function referenceRows(out: string, step: number, rows: Row[]): Promise<{ loss: number; count: number }> {
  const batch = join(tmp.dir, `batch-${step}-${Math.random()}.json`);
  writeFileSync(batch, JSON.stringify({ rows: rows.map((r) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), doc_lens: Array.from(r.docLens) })) }));
  const res = join(tmp.dir, `ref-${step}-${Math.random()}.safetensors`);
  const hf = join(out, `checkpoint-${String(step).padStart(6, '0')}`, 'hf');
  runPython('scripts/reference/telechat_ref.py', ['run', '--model', hf, '--batch', batch, '--out', res, '--dtype', 'fp64', '--no-grad', '--max-seq-len', '96']);
  const st = new SafetensorsReader(res);
  const f64 = (name: string): number => new Float64Array(st.readBytes(name).slice().buffer)[0]!;
  return { loss: f64('loss_sum') / f64('label_count'), count: f64('label_count') };
}

/** The reference loss over every label token of the run's val/ split. */
async function referenceLoss(out: string, step: number): Promise<{ loss: number; count: number }> {
  const reader = DatasetReader.open(join(builtDir(out), 'val'));
  const rows = await reader.rows(Array.from({ length: reader.numRows }, (_, i) => i));
  await reader.close();
  return referenceRows(out, step, rows);
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
      if (process.env.EVAL_TEST_PRINT) console.log(`${name} step ${l.step}: eval_loss ${l.eval_loss} reference ${ref.loss} rel ${(Math.abs(l.eval_loss - ref.loss) / ref.loss).toExponential(2)}`);
      expect(l.eval_ppl).toBeCloseTo(Math.exp(l.eval_loss), 9);
      expect(Object.values(l.per_source)).toEqual([l.eval_loss]); // one source
    }
    // learning shows in the held-out loss
    expect(lines[1]!.eval_loss).toBeLessThan(lines[0]!.eval_loss);
    expect(existsSync(join(out, 'best'))).toBe(false); // save_best off: no best pointer
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

  it('save_total_limit keeps the newest checkpoints and the best, not a best that was overtaken', async () => {
    // a learning run: the eval loss falls at every evaluation, so best moves to each new checkpoint
    const out = join(tmp.dir, 'limit-best');
    const c = zeroConfig(2, 3, 4, 4, {}, { eval_steps: 1, save_steps: 0, save_best: true, save_total_limit: 1 });
    await runTrain(fx, out, 1, { ...c, data: DATA }, port++);
    const losses = evalLines(out).map((l) => l.eval_loss);
    expect(losses).toEqual([...losses].sort((a, b) => b - a)); // each evaluation improved
    expect(readFileSync(join(out, 'best'), 'utf8').trim()).toBe('checkpoint-000004');
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint-'))).toEqual(['checkpoint-000004']);
  }, 120_000);

  it('a resume from an earlier checkpoint points best at the resumed state\'s best, and retention keeps that one', async () => {
    const out = join(tmp.dir, 'resume-earlier');
    const c = zeroConfig(2, 3, 4, 4, {}, { eval_steps: 1, save_steps: 0, save_best: true });
    await runTrain(fx, out, 1, { ...c, data: DATA }, port++);
    expect(readFileSync(join(out, 'best'), 'utf8').trim()).toBe('checkpoint-000004'); // the lowest eval loss was the last
    const best = state(out, 2).eval.best_step; // the best as of step 2
    const name = `checkpoint-${String(best).padStart(6, '0')}`;
    // again from step 2 with lr 0: no later evaluation beats that best, and checkpoints 3 and 4 are
    // rewritten with other weights; the old `best` (checkpoint-000004) names weights now gone
    const frozenAgain = { ...c, optimizer: { type: 'AdamW', params: { lr: 0 } }, training: { ...c.training, save_total_limit: 1 }, data: DATA };
    await runTrain(fx, out, 1, frozenAgain, port++, ['--resume', join(out, 'checkpoint-000002')]);
    expect(state(out, 4).eval.best_step).toBe(best);
    expect(readFileSync(join(out, 'best'), 'utf8').trim()).toBe(name);
    // save_total_limit 1: the newest, and the one the resumed state calls best
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual([name, 'checkpoint-000004']);
    expect(state(out, best).eval.best_step).toBe(best);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(new RegExp(`best: ${name} \\(eval loss \\d+\\.\\d{4} at step ${best}, the resumed checkpoint's best\\) in place of checkpoint-000004`));
  }, 120_000);
});

describe('eval sets', () => {
  it('a mixing file as --eval-data gives per_source losses, each equal to the reference over its rows', async () => {
    const lines = readFileSync(RAW, 'utf8').trim().split('\n');
    writeFileSync(join(tmp.dir, 'a.jsonl'), lines.slice(0, 40).join('\n') + '\n');
    writeFileSync(join(tmp.dir, 'b.jsonl'), lines.slice(300, 360).join('\n') + '\n');
    writeFileSync(join(tmp.dir, 'mix.json'), JSON.stringify({ 'a.jsonl': 1, 'b.jsonl': 0.5 }));
    const out = join(tmp.dir, 'mix');
    await runTrain(fx, out, 1, { ...zeroConfig(0, 3, 4, 4, {}, { save_steps: 2, eval_steps: 0, max_steps: 2 }), data: NO_VAL }, port++, ['--eval-data', join(tmp.dir, 'mix.json')]);
    const [line] = evalLines(out);
    expect(Object.keys(line!.per_source).sort()).toEqual(['a.jsonl', 'b.jsonl']);
    // the eval build: rows never mix sources, each source's rows recorded
    const evalDir = readdirSync(join(out, 'data')).map((d) => join(out, 'data', d)).find((d) => readManifest(d).sources['a.jsonl'] !== undefined)!;
    const m = readManifest(evalDir);
    const reader = DatasetReader.open(evalDir);
    let sum = 0;
    let count = 0;
    for (const name of ['a.jsonl', 'b.jsonl']) {
      const idx = m.sources[name]!.row_ranges!.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
      const ref = await referenceRows(out, 2, await reader.rows(idx));
      expect(Math.abs(line!.per_source[name]! - ref.loss) / ref.loss).toBeLessThan(1e-6);
      sum += ref.loss * ref.count;
      count += ref.count;
    }
    await reader.close();
    expect(line!.eval_tokens).toBe(count);
    expect(Math.abs(line!.eval_loss - sum / count) / (sum / count)).toBeLessThan(1e-6);
  }, 120_000);

  it('a raw --eval-data beside a prebuilt --data is built into the training rows\' length, not data.max_seq_len\'s default', async () => {
    const lines = readFileSync(RAW, 'utf8').trim().split('\n');
    writeFileSync(join(tmp.dir, 'held.jsonl'), lines.slice(0, 30).join('\n') + '\n');
    const prebuilt = join(tmp.dir, 'prebuilt-96');
    await buildDataset({ input: RAW, tokenizerDir: join(tmp.dir, 'model'), output: prebuilt, maxSeqLen: 96, template: 'telechat2', seed: 1 });
    const out = join(tmp.dir, 'prebuilt-raw-eval');
    await runTrain({ ...fx, data: prebuilt }, out, 1, zeroConfig(0, 3, 4, 4, {}, { save_steps: 2, eval_steps: 0, max_steps: 2 }), port++, ['--eval-data', join(tmp.dir, 'held.jsonl')]);
    expect(evalLines(out)).toHaveLength(1);
    expect(readManifest(builtDir(out)).max_seq_len).toBe(96);
  }, 120_000);

  const fails = async (args: { data?: Record<string, unknown>; training?: Record<string, unknown>; flags?: string[]; dataPath?: string }): Promise<string> => {
    const out = join(tmp.dir, `bad-${Math.random()}`);
    const cfg = { ...zeroConfig(0, 3, 4, 4, {}, { save_steps: 2, ...args.training }), data: args.data ?? DATA };
    const err = await runTrain({ ...fx, data: args.dataPath ?? RAW }, out, 1, cfg, port++, args.flags ?? []).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toMatch(/failed \(1\)/);
    expect(existsSync(join(out, 'eval.jsonl'))).toBe(false);
    return err.split('\n').find((l) => l.startsWith('telechat-train:')) ?? err;
  };

  it('refuses an eval set with no label tokens', async () => {
    // a real dataset dir whose rows carry no label: the sample set's first rows with labels -100
    const src = join(tmp.dir, 'nolabel-src');
    const { buildDataset } = await import('../../src/data/builder.js');
    await buildDataset({ input: RAW, tokenizerDir: join(tmp.dir, 'model'), output: src, maxSeqLen: 96, template: 'telechat2', seed: 1 });
    const { ShardWriter } = await import('../../src/data/shards.js');
    const dir = join(tmp.dir, 'nolabel');
    mkdirSync(dir);
    const reader = DatasetReader.open(src);
    const rows = await reader.rows([0, 1, 2, 3]);
    await reader.close();
    const w = new ShardWriter(dir, 4);
    for (const r of rows) w.write({ inputIds: Int32Array.from(r.inputIds), labels: new Int32Array(r.inputIds.length).fill(-100), docLens: Int32Array.from(r.docLens) });
    const shards = w.finish();
    const m = readManifest(src);
    const tokens = rows.reduce((s, r) => s + r.inputIds.length, 0);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, rows: 4, tokens, loss_tokens: 0, rows_per_batch: 4, shards }));
    expect(await fails({ data: NO_VAL, flags: ['--eval-data', dir] })).toMatch(/eval set .*nolabel\/manifest\.json: no label tokens/);
  }, 60_000);

  it('refuses a val_size that leaves less than one global batch', async () => {
    expect(await fails({ data: { ...DATA, val_size: 0.97 } })).toMatch(/rows after its build held out val_size 0\.97 for its eval split .*, fewer than one global batch \(train_batch_size 12, [^)]+\): give a smaller train_batch_size/);
  }, 60_000);

  it('refuses a data.val_size that holds out no conversation, or every one, naming data.val_size', async () => {
    expect(await fails({ data: { ...DATA, val_size: 0.0001 } })).toMatch(/^telechat-train: data\.val_size 0\.0001 held out no conversation \(of 360\); raise it$/);
    expect(await fails({ data: { ...DATA, val_size: 400 } })).toMatch(/^telechat-train: data\.val_size 400 holds out every conversation that survived \(360\): none is left to train on; lower it$/);
  }, 60_000);

  it('refuses an eval dataset built with another tokenizer', async () => {
    // a byte-level BPE tokenizer.json (bytes + the template's markers) in place of the model's SentencePiece
    const tokDir = join(tmp.dir, 'other-tokenizer');
    mkdirSync(tokDir);
    const vocab: Record<string, number> = {};
    // GPT-2's byte -> printable character map: printable bytes as themselves, the rest from U+0100 on
    let extra = 0;
    for (let b = 0; b < 256; b++) vocab[String.fromCodePoint((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? b : 256 + extra++)] = b;
    const specials = ['<_user>', '<_bot>', '<_start>', '<_end>', '<_pad>'];
    writeFileSync(join(tokDir, 'tokenizer.json'), JSON.stringify({
      version: '1.0', truncation: null, padding: null, normalizer: null, post_processor: null,
      added_tokens: specials.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
    }));
    const input = join(tmp.dir, 'short.jsonl');
    writeFileSync(input, JSON.stringify({ input: 'hi', output: 'hello there' }) + '\n');
    const other = join(tmp.dir, 'other-tok');
    const { buildDataset } = await import('../../src/data/builder.js');
    await buildDataset({ input, tokenizerDir: tokDir, output: other, maxSeqLen: 96, template: 'telechat', seed: 1 });
    expect(await fails({ data: NO_VAL, flags: ['--eval-data', other] })).toMatch(/--eval-data .*other-tok: built with another tokenizer/);
  }, 60_000);

  it('refuses data.val_size that a prebuilt dir was not split with, and save_best without an eval set', async () => {
    const { buildDataset } = await import('../../src/data/builder.js');
    const ds = join(tmp.dir, 'split-20');
    await buildDataset({ input: RAW, tokenizerDir: join(tmp.dir, 'model'), output: ds, maxSeqLen: 96, template: 'telechat2', seed: 1, valSize: 20 });
    expect(await fails({ dataPath: ds, data: { val_size: 30 } })).toMatch(/"data\.val_size" is 30 but the dataset .*split-20 was built with val_size 20/);
    expect(await fails({ data: NO_VAL, training: { save_best: true } })).toMatch(/"training\.save_best" needs evaluation, but there is no eval set/);
  }, 60_000);

  it('training.eval_steps without an eval set is a warning, and nothing is evaluated', async () => {
    const out = join(tmp.dir, 'no-eval');
    await runTrain(fx, out, 1, { ...zeroConfig(0, 3, 4, 4, {}, { save_steps: 2, eval_steps: 2, max_steps: 2 }), data: NO_VAL }, port++);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/warning: "training\.eval_steps": 2 has no effect: there is no eval set/);
    expect(existsSync(join(out, 'eval.jsonl'))).toBe(false);
  }, 60_000);
});
