// Everything a run is made of, resolved before the first step: the config (with "auto"
// filled from the model and the data), the model's architecture and where its weights and
// tokenizer come from, and the dataset. `--dry-run` stops after this.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ConfigFlags, type DatasetFacts, type ResolvedConfig } from '../config/index.js';
import type { ModelSection } from '../config/types.js';
import { readManifest, type Manifest } from '../data/manifest.js';
import { loadModelSpec, type ModelSpec } from '../model/spec.js';
import { DatasetReader } from '../data/reader.js';
import { inputNames } from '../data/sources.js';
import { isDatasetDir, openDataset, type DataOptions } from './data_feed.js';
import { onInterrupt } from '../checkpoint/interrupt.js';
import { checkLogFile, checkOutputDirPath, type OutputDirTaken, refuseEarlierRun, refuseInputsReplaced, takeOutputDir } from './output_dir.js';
import { acquireRunLock } from './run_lock.js';
import { datasetIdentity, findResumeDir, loraDropoutChangeWarning, modelIdentity, openResume, readPointer, readTrainerState, scheduleChangeWarning, stepLogCuts } from './checkpointing.js';
import { idlePatience } from './evaluate.js';
import { readTrainingRecord, TRAINING_RECORD_FILE } from '../checkpoint/training_record.js';
import { unitList } from '../checkpoint/zero_state.js';
import { hasWeights, HfTensorSource, notAModelDir, WEIGHT_FILES } from '../checkpoint/hf.js';
import { type LoraRun, loraUnitList, planLora } from './lora_run.js';

/** The package root (dist/train or src/train -> ..). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The shipped tiny model (config, tokenizer; randomly initialised) and sample data. */
export const DEFAULT_MODEL_DIR = join(PACKAGE_ROOT, 'data', 'tiny-model');
export const DEFAULT_DATA = join(PACKAGE_ROOT, 'data', 'sample-conversations.jsonl');

export interface RunRequest {
  configPath: string | null;
  sets: string[];
  flags: ConfigFlags;
  worldSize: number;
  dryRun: boolean;
  /** Replace an earlier run in the output dir (checked before any data is built there). */
  overwrite: boolean;
  /** --resume (auto, or a checkpoint dir): continuing a run, whose checkpoint must exist; null: a new run. */
  resume: string | null;
  /** This process is rank 0, which prepares the output dir and builds raw data. */
  isRank0: boolean;
  /** Waits for every rank (after rank 0 prepared the data). */
  barrier: () => void;
}

export interface ModelSource {
  /** The architecture, with dropout as the run uses it (resolveDropout). */
  spec: ModelSpec;
  /** The config.json the spec was read from. */
  configPath: string;
  /** Directory with config.json and tokenizer files (and weights when pretrained). */
  dir: string;
  init: 'pretrained' | 'random';
}

export interface RunSetup {
  config: ResolvedConfig;
  warnings: string[];
  model: ModelSource;
  reader: DatasetReader;
  /** The held-out set (--eval-data, or the dataset's val/), or null: no evaluation. */
  evalReader: DatasetReader | null;
  /** The adapters of a run with a lora section (init_adapter checked), or null: full fine-tuning. */
  lora: LoraRun | null;
  /**
   * After the run (or a failure): removes a dry run's temporary dataset, and undoes a start that
   * failed before started() (takeOutputDir: no partial output, an overwritten run put back).
   */
  cleanup: () => void;
  /** The run has started (the trainer calls it before its first step): --overwrite's earlier run goes. */
  started: () => void;
  /** The --resume checkpoint when it is the run's last step and final/ (and a LoRA run's adapter/) exist: nothing to train. */
  finished: string | null;
  /** The lines prepareRun logged (data built, notes), for train.log, which does not exist yet then. */
  said: string[];
}

function chooseModel(cfg: ResolvedConfig): ModelSource {
  const m = cfg.model;
  if (m.path !== null) {
    const configPath = join(m.path, 'config.json');
    if (!existsSync(m.path)) throw new Error(`--model: ${m.path} does not exist`);
    if (!existsSync(configPath)) throw new Error(`--model: ${m.path} has no config.json${notAModelDir(m.path)}`);
    return { spec: loadModelSpec(configPath), configPath, dir: m.path, init: m.init };
  }
  if (m.config !== null) {
    if (!existsSync(m.config)) throw new Error(`--model-config: ${m.config} does not exist`);
    return { spec: loadModelSpec(m.config), configPath: m.config, dir: dirname(m.config), init: 'random' };
  }
  const configPath = join(DEFAULT_MODEL_DIR, 'config.json');
  return { spec: loadModelSpec(configPath), configPath, dir: DEFAULT_MODEL_DIR, init: 'random' };
}

/**
 * Dropout of the run: config.json's values unless the config's `model` section sets them.
 * Residual (hidden) dropout is applied in training; attention dropout is not implemented, so
 * a non-zero value is accepted with a warning saying attention runs without it (refusing would
 * lock out TeleChat-7B, whose config ships 0.1).
 */
export function resolveDropout(source: ModelSource, m: ModelSection, warnings: string[]): ModelSource {
  const is52b = source.spec.layout === 'telechat-52b';
  const pick = (key: 'hidden_dropout' | 'attention_dropout', fromModel: number, hfKey: string): { p: number; from: string } => {
    const set = m[key];
    const from = set !== null ? `model.${key}` : `"${hfKey}" in ${source.configPath}`;
    const p = set ?? fromModel;
    if (p >= 1) throw new Error(`${from} is ${p}: a dropout probability must be below 1`);
    return { p, from };
  };
  const hidden = pick('hidden_dropout', source.spec.hiddenDropout, is52b ? 'resid_pdrop' : 'hidden_dropout');
  const attention = pick('attention_dropout', source.spec.attentionDropout, is52b ? 'attn_pdrop' : 'attention_dropout');
  if (attention.p > 0) {
    warnings.push(
      `${attention.from} is ${attention.p}, but attention dropout is not implemented: attention probabilities are not dropped ` +
        `(residual dropout, model.hidden_dropout = ${hidden.p}, is applied); set model.attention_dropout to 0 to acknowledge`,
    );
  }
  return { ...source, spec: { ...source.spec, hiddenDropout: hidden.p, attentionDropout: attention.p } };
}

/** What the config checks of a dataset (config/resolve.ts): its manifest's build record. */
function datasetFacts(dir: string, m: Manifest, prebuilt: boolean): DatasetFacts {
  return { dir, prebuilt, max_seq_len: m.max_seq_len, template: m.template, input_format: m.input_format, loss_on: m.loss_on, packed: m.packed, ...(m.val_size !== undefined ? { val_size: m.val_size } : {}) };
}

export async function prepareRun(req: RunRequest, logLine: (line: string) => void): Promise<RunSetup> {
  const said: string[] = [];
  const log = (line: string): void => {
    said.push(line);
    logLine(line);
  };
  // First pass: the paths (model, data, output) and the batch split; "auto" values that need
  // the model or the data are filled in the second pass.
  let flags = req.flags;
  let first = loadConfig(req.configPath, { sets: req.sets, flags, context: { worldSize: req.worldSize, hiddenSize: 1, runLengthLater: true } }).config;
  // A resume continues the checkpoint's run, whose data order, held-out split, dropout masks and
  // random base all follow its seed: another seed is overruled (said), before anything is built
  // with it.
  if (req.resume !== null) {
    const saved = readTrainerState(findResumeDir(first.training.output_dir, req.resume)).seed;
    if (saved !== first.training.seed) {
      if (req.isRank0) log(`warning: "training.seed" ${first.training.seed} is not the resumed run's; it continues with the checkpoint's seed ${saved} (its data order, held-out split and dropout masks)`);
      flags = { ...flags, seed: saved };
      first = loadConfig(req.configPath, { sets: req.sets, flags, context: { worldSize: req.worldSize, hiddenSize: 1, runLengthLater: true } }).config;
    }
  }
  const model = chooseModel(first);
  const dataPath = first.data.path ?? DEFAULT_DATA;
  // A dataset dir's manifest must agree with the config before the output dir is touched
  // (--overwrite sets the earlier run aside).
  const prebuilt = isDatasetDir(dataPath);
  if (prebuilt) {
    loadConfig(req.configPath, { sets: req.sets, flags, context: { worldSize: req.worldSize, hiddenSize: 1, runLengthLater: true, dataset: datasetFacts(dataPath, readManifest(dataPath), true) } });
  }
  // the eval set's inputs, checked before the output dir is touched too
  const evalData = first.training.eval_data;
  if (evalData !== null && !isDatasetDir(evalData)) {
    for (const p of inputNames(evalData)) if (!existsSync(p)) throw new Error(`--eval-data: ${p} does not exist`);
  }
  if (first.data.val_size !== null && evalData !== null) {
    throw new Error(`"data.val_size" and "training.eval_data" (--eval-data) both name an eval set; keep one`);
  }
  // what the run would find first, checked before the output dir is touched (--dry-run too):
  // the checkpoint to resume, or no earlier run in the way; a pretrained model's weights (a full
  // run's resume takes its weights from the checkpoint); the adapters of a lora section
  const outDir = first.training.output_dir;
  checkOutputDirPath(outDir);
  checkLogFile(first.training.log_file);
  if (req.resume !== null) findResumeDir(outDir, req.resume);
  else refuseEarlierRun(outDir, req.overwrite);
  if (req.overwrite) {
    // (--data and --eval-data may list several files, comma-separated)
    const each = (what: string, paths: string | null): Array<[string, string]> => inputNames(paths ?? '').map((p) => [what, p]);
    refuseInputsReplaced(outDir, first.training.log_file, [
      ['--model', first.model.path], ['--model-config', first.model.config], ...each('--data', dataPath),
      ...each('--eval-data', first.training.eval_data), ['lora.init_adapter', first.lora?.init_adapter ?? null],
    ]);
  }
  if (model.init === 'pretrained' && (req.resume === null || first.lora !== null)) {
    // a dir with a config and a tokenizer only (as data/tiny-model ships) is an architecture to train from scratch
    if (!hasWeights(model.dir)) throw new Error(`${model.dir}: no weights found (${WEIGHT_FILES.join(', ')}); to train this architecture from random weights, add --init random`);
    new HfTensorSource(model.dir).close();
  }
  const loraWarnings: string[] = [];
  const lora = first.lora ? planLora(first.lora, model.spec, model.dir, model.init, loraWarnings, req.resume !== null) : null;
  let buildDir = join(outDir, 'data');
  let cleanup = (): void => {};
  // rank 0 takes the output dir; a start that fails undoes that (no partial output, an
  // overwritten run put back), and one that succeeds drops the run --overwrite replaced
  let taken: OutputDirTaken | null = null;
  if (!req.dryRun && req.isRank0) {
    // the lock first: --overwrite must not move the files of a run that is still going
    taken = takeOutputDir(outDir, req.overwrite, req.resume !== null, first.training.log_file, () => {
      const lock = acquireRunLock(outDir);
      for (const note of lock.notes) log(note);
      return lock;
    }, log);
    cleanup = taken.undo;
  }
  // Ctrl-C, SIGTERM or SIGHUP while preparing (a long data build) undoes the start as a failure
  // does; from the trainer on, its StopRequest saves a checkpoint instead
  const releaseSignals = taken ? onInterrupt(() => cleanup()) : (): void => {};
  if (req.dryRun) {
    const tmp = mkdtempSync(join(tmpdir(), 'telechat-dry-run-'));
    buildDir = join(tmp, 'dataset');
    cleanup = () => rmSync(tmp, { recursive: true, force: true });
  }
  try {
    // rank 0 builds raw conversations into the output dir; the others then open the result
    if (!req.isRank0) req.barrier();
    const buildOptions = {
      tokenizerDir: model.dir,
      vocab: model.spec.vocab,
      maxSeqLen: first.data.max_seq_len,
      seed: first.training.seed,
      buildDir,
      template: first.data.template,
      format: first.data.format,
      lossOn: first.data.loss_on,
      pack: first.data.pack,
      skipBad: first.data.skip_bad,
      // (a dry run's ranks each build into their own temporary dir)
      ...(req.isRank0 || req.dryRun ? {} : { openOnly: 'a rank other than 0, which reads the data rank 0 builds' }),
    };
    const reader = await openDataset(
      {
        path: dataPath,
        ...buildOptions,
        ...(first.data.val_size !== null ? { valSize: first.data.val_size } : {}),
      },
      log,
    );
    // raw eval data is built into the training rows' length (a prebuilt dataset's may differ from data.max_seq_len's default)
    const evalReader = await openEvalSet(first.training.eval_data, reader, { ...buildOptions, maxSeqLen: reader.manifest.max_seq_len }, req.isRank0, log);
    if (req.isRank0) req.barrier();
    // Second pass: training.max_seq_len follows the dataset and set data options must match it.
    const dataset = datasetFacts(reader.dir, reader.manifest, prebuilt);
    const { config, warnings } = loadConfig(req.configPath, {
      sets: req.sets,
      flags,
      context: { worldSize: req.worldSize, hiddenSize: model.spec.hidden, datasetRows: reader.numRows, dataset },
    });
    if (evalReader) {
      checkEvalSet(evalReader, reader);
      const idle = idlePatience(config.training, config.run.total_steps);
      if (idle !== null) warnings.push(idle);
    } else {
      checkNoEval(config, warnings);
    }
    const source = resolveDropout(model, config.model, warnings);
    warnings.push(...loraWarnings);
    if (model.init === 'pretrained') warnings.push(...baseRecordWarnings(model.dir, reader.manifest.template, config.training.max_seq_len));
    let finished: string | null = null;
    if (req.resume !== null) {
      // the checkpoint must continue this run (model, dataset, global batch, its optimizer state's
      // files), found here so --dry-run finds it and a failed start undoes the data it built
      const identity = { model: modelIdentity(source.spec), dataset: datasetIdentity(reader.manifest), globalBatch: config.train_batch_size,
        split: { micro: config.train_micro_batch_size_per_gpu, accumulation: config.gradient_accumulation_steps, worldSize: req.worldSize } };
      const { dir, state, zero } = openResume(outDir, req.resume, identity, config.lora && lora ? { section: config.lora, select: lora.select } : null, lora ? loraUnitList(source.spec, lora) : unitList(source.spec));
      zero.close();
      const scheduleChange = scheduleChangeWarning(dir, state, { lr: config.optimizer.params.lr, scheduler: config.scheduler }, config.run.schedule_from_run_length);
      if (scheduleChange !== null) warnings.push(scheduleChange);
      const dropoutChange = loraDropoutChangeWarning(dir, state, config.lora);
      if (dropoutChange !== null) warnings.push(dropoutChange);
      // metrics.jsonl and eval.jsonl will be cut back to the checkpoint: a line that stops that fails here, before anything is written
      if (req.isRank0) stepLogCuts(outDir, state.step);
      const total = config.run.total_steps;
      if (total !== null && state.step > total) {
        throw new Error(`--resume ${dir}: the checkpoint is at step ${state.step}, past the run's ${total} steps (--max-steps counts every step, across resumes): raise --max-steps to continue it`);
      }
      // the run's last step, its newest checkpoint, with its outputs written: nothing to do (without
      // them, or from an older checkpoint, the trainer writes them)
      const outputs = [join(outDir, 'final'), ...(lora ? [join(outDir, 'adapter')] : [])];
      const latest = readPointer(outDir, 'latest');
      const newest = latest !== null && resolve(outDir, latest) === resolve(dir);
      if (state.step === total && newest && outputs.every((p) => existsSync(p))) finished = dir;
    }
    // a signal that arrived during the synchronous end above reaches its handler before it is removed
    await new Promise((r) => setImmediate(r));
    let hasStarted = false;
    const started = (): void => {
      hasStarted = true;
      taken?.commit();
    };
    return { config, warnings, model: source, reader, evalReader, lora, cleanup: () => { if (!hasStarted) cleanup(); }, started, said, finished };
  } catch (err) {
    try {
      cleanup();
    } catch (undoErr) {
      // the start's own error is what the user must see; a failed undo is said beside it
      if (err instanceof Error) err.message += ` (undoing the start then failed too: ${(undoErr as Error).message})`;
    }
    throw err;
  } finally {
    releaseSignals();
  }
}

/**
 * The held-out set: --eval-data (built like --data, with rows that never mix sources so each
 * source's loss can be told apart), else the dataset's val/ (telechat-data --val-size or
 * data.val_size), else none.
 */
async function openEvalSet(
  evalData: string | null,
  train: DatasetReader,
  build: Omit<DataOptions, 'path'>,
  isRank0: boolean,
  log: (line: string) => void,
): Promise<DatasetReader | null> {
  if (evalData !== null) {
    return openDataset({ ...build, path: evalData, perSourceRows: true, what: '--eval-data' }, isRank0 ? (l) => log(l.replace(/^data:/, 'eval data:')) : () => {});
  }
  const val = join(train.dir, 'val');
  if (!isDatasetDir(val)) return null;
  const reader = DatasetReader.open(val, { vocab: build.vocab });
  if (isRank0) log(`eval data: ${val} (held out at build time, val_size ${train.manifest.val_size}): ${reader.numRows} rows, ${reader.manifest.loss_tokens} loss tokens`);
  return reader;
}

/** Eval rows must be what training sees (tokenizer, template, labels) and fit the model's capacity. */
function checkEvalSet(ev: DatasetReader, train: DatasetReader): void {
  const where = `${ev.dir}/manifest.json`;
  const em = ev.manifest;
  const tm = train.manifest;
  if (em.tokenizer.sha256 !== tm.tokenizer.sha256) {
    throw new Error(`eval set ${where}: built with another tokenizer (sha256 ${em.tokenizer.sha256.slice(0, 12)}…) than the training data's (${tm.tokenizer.sha256.slice(0, 12)}…)`);
  }
  if (em.template !== tm.template) throw new Error(`eval set ${where}: built with template ${em.template}, the training data with ${tm.template}`);
  if (em.loss_on !== tm.loss_on) throw new Error(`eval set ${where}: built with loss_on ${em.loss_on}, the training data with ${tm.loss_on}`);
  if (em.max_seq_len > tm.max_seq_len) {
    throw new Error(`eval set ${where}: rows of up to ${em.max_seq_len} tokens do not fit the run's rows of ${tm.max_seq_len} (rebuild it with --max-seq-len ${tm.max_seq_len})`);
  }
  if (em.loss_tokens === 0) throw new Error(`eval set ${where}: no label tokens (loss_tokens 0): there is nothing to evaluate`);
}

/** Evaluation keys without an eval set: refused when they need one, warned when they only schedule it. */
function checkNoEval(cfg: ResolvedConfig, warnings: string[]): void {
  const t = cfg.training;
  const why = 'there is no eval set: give --eval-data (training.eval_data), or data whose dir has val/ (telechat-data build --val-size, data.val_size)';
  if (t.save_best) throw new Error(`"training.save_best" needs evaluation, but ${why}`);
  if (t.early_stopping_patience !== null) throw new Error(`"training.early_stopping_patience" needs evaluation, but ${why}`);
  if (t.eval_steps !== null) warnings.push(`"training.eval_steps": ${t.eval_steps} has no effect: ${why}`);
}

/**
 * A base that is itself a fine-tune records the template and the rotary length it was trained
 * with (telechat_training.json); a run that continues it with another one trains it away from
 * what it is served with, so each difference is a warning naming the setting that keeps it.
 */
export function baseRecordWarnings(baseDir: string, template: string, maxSeqLen: number): string[] {
  const record = readTrainingRecord(baseDir);
  if (record === null) return [];
  const at = join(baseDir, TRAINING_RECORD_FILE);
  const out: string[] = [];
  if (record.chat_template !== template) {
    out.push(`${at}: the base was fine-tuned in the ${record.chat_template} template, and this run builds its rows in ${template}; ` +
      `build them in it ("data.template": "${record.chat_template}", or telechat-data build --template) to keep the one it is served with`);
  }
  if (record.max_seq_len > maxSeqLen) {
    out.push(`${at}: the base was fine-tuned with its rotary tables at length ${record.max_seq_len}, and this run's training.max_seq_len ${maxSeqLen} ` +
      `evaluates them at another length (other frequencies); set "training.max_seq_len": ${record.max_seq_len} to keep them`);
  }
  return out;
}
