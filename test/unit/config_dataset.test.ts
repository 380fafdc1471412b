// A prebuilt dataset and the config (DESIGN.md "Semantics that tests pin down"): the dataset's
// max_seq_len is the run's training.max_seq_len (the length RoPE's NTK rule is evaluated at)
// unless one is set (then >= it), and every build option that is set must match the manifest.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveConfigObject, type DatasetFacts, type LoadOptions, type ResolvedConfig } from '../../src/config/index.js';
import { buildDataset } from '../../src/data/builder.js';
import { initRandom } from '../../src/model/init.js';
import { TelechatModel } from '../../src/model/model.js';
import { ropeParams } from '../../src/model/rope.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { prepareRun, type RunSetup } from '../../src/train/setup.js';
import { makeTmpDir } from '../helpers/tmp.js';

const ok = { train_micro_batch_size_per_gpu: 1 };
/** A manifest's facts: the telechat-data defaults at max_seq_len 512. */
const DS: DatasetFacts = { dir: '/data/ds', prebuilt: true, max_seq_len: 512, template: 'telechat2', input_format: 'auto', loss_on: 'all', packed: true };

const resolve = (cfg: object, opts: LoadOptions = {}, dataset: DatasetFacts = DS): ResolvedConfig =>
  resolveConfigObject(cfg, 'run.json', { ...opts, context: { dataset } }).config;

/** The error resolving `cfg` throws (null dataset: before it is known). */
function errorOf(cfg: object, opts: LoadOptions = {}, dataset: DatasetFacts | null = DS): string {
  try {
    resolveConfigObject(cfg, 'run.json', { ...opts, context: { dataset: dataset ?? undefined } });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('training.max_seq_len follows a prebuilt dataset', () => {
  it('unset: the dataset\'s; set: equal or larger is kept, smaller is an error', () => {
    expect(resolve(ok).training.max_seq_len).toBe(512);
    expect(resolve({ ...ok, training: { max_seq_len: 512 } }).training.max_seq_len).toBe(512);
    expect(resolve(ok, { flags: { maxSeqLen: 1024 } }).training.max_seq_len).toBe(1024);
    expect(errorOf(ok, { flags: { maxSeqLen: 256 } })).toBe(
      '--max-seq-len: "training.max_seq_len" 256 is smaller than the dataset\'s max_seq_len (/data/ds/manifest.json) 512: ' +
        'rows of up to 512 tokens would not fit; raise it, or leave it unset to follow the data',
    );
    expect(errorOf({ ...ok, training: { max_seq_len: 128 } })).toMatch(/^run\.json: "training\.max_seq_len" 128 is smaller than the dataset's max_seq_len/);
  });

  it('data.max_seq_len only builds data: with a prebuilt dataset it must equal the manifest\'s', () => {
    expect(resolve({ ...ok, data: { max_seq_len: 512 } }).data.max_seq_len).toBe(512);
    expect(errorOf({ ...ok, data: { max_seq_len: 256 } })).toBe(
      'run.json: "data.max_seq_len" is 256 but the dataset /data/ds was built with max_seq_len 512 (its manifest.json); ' +
        'build options do not apply to a built dataset: remove the option (--set data.max_seq_len=null) or rebuild the dataset',
    );
    // the shipped configs set it (256); --set ...=null lets them read another dataset
    expect(resolve({ ...ok, data: { max_seq_len: 256 } }, { sets: ['data.max_seq_len=null'] }).training.max_seq_len).toBe(512);
  });

  it('before the dataset is known: a raw build uses data.max_seq_len, else training.max_seq_len, else 2048', () => {
    const none = (cfg: object) => resolveConfigObject(cfg, 'run.json').config;
    expect([none(ok).data.max_seq_len, none(ok).training.max_seq_len]).toEqual([2048, 2048]);
    const shipped = none({ ...ok, data: { max_seq_len: 256 } });
    expect([shipped.data.max_seq_len, shipped.training.max_seq_len]).toEqual([256, 256]);
    const both = none({ ...ok, data: { max_seq_len: 256 }, training: { max_seq_len: 1024 } });
    expect([both.data.max_seq_len, both.training.max_seq_len]).toEqual([256, 1024]);
    expect(errorOf({ ...ok, data: { max_seq_len: 512 } }, { flags: { maxSeqLen: 256 } }, null)).toMatch(
      /^--max-seq-len: "training\.max_seq_len" 256 is smaller than "data\.max_seq_len" 512/,
    );
  });
});

describe('build options that are set must match a prebuilt dataset', () => {
  it.each([
    ['template', 'telechat', 'template "telechat2"'],
    ['format', 'sharegpt', 'format "auto"'],
    ['loss_on', 'last', 'loss_on "all"'],
    ['pack', false, 'pack true'],
  ])('data.%s: one error naming both values', (key, given, built) => {
    expect(errorOf({ ...ok, data: { [key]: given } })).toBe(
      `run.json: "data.${key}" is ${JSON.stringify(given)} but the dataset /data/ds was built with ${built} (its manifest.json); ` +
        `build options do not apply to a built dataset: remove the option (--set data.${key}=null) or rebuild the dataset`,
    );
  });

  it('unset options take the manifest\'s values; equal ones are accepted', () => {
    expect(resolve(ok).data).toMatchObject({ max_seq_len: 512, template: 'telechat2', format: 'auto', loss_on: 'all', pack: true });
    expect(resolve({ ...ok, data: { format: 'auto', max_seq_len: 512 } }).data.format).toBe('auto');
    const last = { ...DS, loss_on: 'last', packed: false };
    expect(resolve({ ...ok, data: { loss_on: 'last', pack: false, template: 'telechat2' } }, {}, last).data).toMatchObject({ loss_on: 'last', pack: false });
    // a --set flag is named as the source
    expect(errorOf(ok, { sets: ['train_micro_batch_size_per_gpu=1', 'data.loss_on=last'] })).toMatch(/^--set data\.loss_on: "data\.loss_on" is "last" but the dataset \/data\/ds was built with loss_on "all"/);
  });

  it('an older manifest that does not record an option cannot be checked against it', () => {
    const old: DatasetFacts = { dir: '/data/old', prebuilt: true, max_seq_len: 512 };
    expect(resolve(ok, {}, old).data).toMatchObject({ loss_on: 'all', pack: true, template: null });
    expect(errorOf({ ...ok, data: { template: 'telechat2' } }, {}, old)).toBe(
      'run.json: "data.template" is "telechat2" but /data/old/manifest.json does not record how the dataset was built for it; remove the option or rebuild the dataset',
    );
  });

  it('data.skip_bad only applies to builds: a warning with a prebuilt dataset', () => {
    const { warnings } = resolveConfigObject({ ...ok, data: { skip_bad: true } }, 'run.json', { context: { dataset: DS } });
    expect(warnings).toEqual(['run.json: "data.skip_bad": true has no effect in telechat-train (the dataset /data/ds is already built; it only applies to builds)']);
  });

  it('a dataset this run built from raw input is not checked again (it was built from these options)', () => {
    const built = { ...DS, prebuilt: false, max_seq_len: 256 };
    const c = resolve({ ...ok, data: { max_seq_len: 256, loss_on: 'all' } }, {}, built);
    expect([c.data.max_seq_len, c.training.max_seq_len]).toEqual([256, 256]);
  });
});

describe('a prebuilt dataset of max_seq_len 512 through prepareRun (what the trainer reads)', () => {
  const tmp = makeTmpDir('config-dataset');
  const ds = `${tmp.dir}/ds512`;
  let setup: RunSetup;
  beforeAll(async () => {
    await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: 'data/tiny-model', output: ds, maxSeqLen: 512, template: 'telechat2', seed: 1 });
    setup = await prepareRun(
      { configPath: null, sets: ['train_micro_batch_size_per_gpu=1'], flags: { data: ds, maxSteps: 1 }, worldSize: 1, dryRun: true, overwrite: false, resume: null, isRank0: true, barrier: () => {} },
      () => {},
    );
  }, 120_000);
  afterAll(async () => {
    await setup?.reader.close();
    setup?.cleanup();
    tmp.cleanup();
  });

  it('a mismatch is refused before the output dir is touched (--overwrite would empty it)', async () => {
    const out = `${tmp.dir}/previous-run`;
    mkdirSync(out);
    writeFileSync(`${out}/metrics.jsonl`, '{"step": 1}\n');
    await expect(
      prepareRun(
        { configPath: null, sets: ['train_micro_batch_size_per_gpu=1', 'data.loss_on=last'], flags: { data: ds, outputDir: out }, worldSize: 1, dryRun: false, overwrite: true, resume: null, isRank0: true, barrier: () => {} },
        () => {},
      ),
    ).rejects.toThrow(`--set data.loss_on: "data.loss_on" is "last" but the dataset ${ds} was built with loss_on "all"`);
    expect(readFileSync(`${out}/metrics.jsonl`, 'utf8')).toBe('{"step": 1}\n');
  });

  it('training.max_seq_len is 512, so RoPE\'s NTK rule is evaluated at 512, not at 2048', () => {
    expect(setup.reader.manifest.max_seq_len).toBe(512);
    expect(setup.config.training.max_seq_len).toBe(512);
    expect(setup.config.data).toMatchObject({ max_seq_len: 512, template: 'telechat2', loss_on: 'all', pack: true });
    const spec = setup.model.spec; // the shipped tiny model: training_seqlen 256, base_seqlen 256
    const rope = ropeParams(spec.rope, spec.headDim, setup.config.training.max_seq_len);
    // alpha = max(2^ceil(log2(L / 256) + 1) - 1, 1): 3 at 512, 15 at 2048
    expect([rope.seqLen, rope.ntkAlpha]).toEqual([512, 3]);
    expect(ropeParams(spec.rope, spec.headDim, 2048).ntkAlpha).toBe(15);
  });

  it('the loss is what the model gives at 512 (and differs from the model at 2048)', async () => {
    const spec = setup.model.spec;
    const rows = await setup.reader.rows([0]);
    const lossAt = (maxSeqLen: number): number => {
      // trainer.ts builds its model with maxSeqLen = cfg.training.max_seq_len
      const model = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 512, maxSeqLen, recompute: false, logitsChunk: 64 });
      try {
        initRandom(model.params, 0.2, 7); // large enough weights that attention (and so RoPE) shapes the loss
        const r = model.forward(rows);
        return r.lossSum / r.count;
      } finally {
        model.free();
      }
    };
    const resolved = lossAt(setup.config.training.max_seq_len);
    expect(resolved).toBe(lossAt(512)); // the same deterministic fp32 computation
    const at2048 = lossAt(2048);
    // measured 6.0e-3 relative (10.9255 vs 10.9908); fp32 rounding of this loss is ~1e-7, so 1e-4 only passes if RoPE differs
    expect(Math.abs(at2048 - resolved) / resolved).toBeGreaterThan(1e-4);
  });
});
