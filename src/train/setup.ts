// Everything a run is made of, resolved before the first step: the config (with "auto"
// filled from the model and the data), the model's architecture and where its weights and
// tokenizer come from, and the dataset. `--dry-run` stops after this.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ConfigFlags, type ResolvedConfig } from '../config/index.js';
import type { DatasetReader } from '../data/reader.js';
import { loadModelSpec, type ModelSpec } from '../model/spec.js';
import { openDataset } from './data_feed.js';
import { prepareOutputDir, removeStaleTemps } from './output_dir.js';
import { acquireRunLock } from './run_lock.js';

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
  /** Continuing a run (--resume): its output dir is expected to hold it. */
  resume: boolean;
  /** This process is rank 0, which prepares the output dir and builds raw data. */
  isRank0: boolean;
  /** Waits for every rank (after rank 0 prepared the data). */
  barrier: () => void;
}

export interface ModelSource {
  spec: ModelSpec;
  /** Directory with config.json and tokenizer files (and weights when pretrained). */
  dir: string;
  init: 'pretrained' | 'random';
}

export interface RunSetup {
  config: ResolvedConfig;
  warnings: string[];
  model: ModelSource;
  reader: DatasetReader;
  /** A temporary dataset built for a dry run, removed by cleanup(). */
  cleanup: () => void;
}

function chooseModel(cfg: ResolvedConfig): ModelSource {
  const m = cfg.model;
  if (m.path !== null) {
    const configPath = join(m.path, 'config.json');
    if (!existsSync(m.path)) throw new Error(`--model: ${m.path} does not exist`);
    if (!existsSync(configPath)) throw new Error(`--model: ${m.path} has no config.json`);
    return { spec: loadModelSpec(configPath), dir: m.path, init: m.init };
  }
  if (m.config !== null) {
    if (!existsSync(m.config)) throw new Error(`--model-config: ${m.config} does not exist`);
    if (m.init !== 'random') throw new Error(`--model-config ${m.config} gives no weights: pass --init random, or --model DIR for a checkpoint`);
    return { spec: loadModelSpec(m.config), dir: dirname(m.config), init: 'random' };
  }
  return { spec: loadModelSpec(join(DEFAULT_MODEL_DIR, 'config.json')), dir: DEFAULT_MODEL_DIR, init: 'random' };
}

export async function prepareRun(req: RunRequest, log: (line: string) => void): Promise<RunSetup> {
  // First pass: the paths (model, data, output) and the batch split; "auto" values that need
  // the model or the data are filled in the second pass.
  const first = loadConfig(req.configPath, { sets: req.sets, flags: req.flags, context: { worldSize: req.worldSize, hiddenSize: 1 } }).config;
  const model = chooseModel(first);
  const dataPath = first.data.path ?? DEFAULT_DATA;
  let buildDir = join(first.training.output_dir, "data");
  let cleanup = (): void => {};
  if (!req.dryRun && req.isRank0) {
    // the lock first: --overwrite must not clear the dir of a run that is still going
    mkdirSync(first.training.output_dir, { recursive: true });
    for (const note of acquireRunLock(first.training.output_dir).notes) log(note);
    if (!req.resume) prepareOutputDir(first.training.output_dir, req.overwrite);
    for (const note of removeStaleTemps(first.training.output_dir)) log(note);
  }
  if (req.dryRun) {
    const tmp = mkdtempSync(join(tmpdir(), 'telechat-dry-run-'));
    buildDir = join(tmp, 'dataset');
    cleanup = () => rmSync(tmp, { recursive: true, force: true });
  }
  try {
    // rank 0 builds raw conversations into the output dir; the others then open the result
    if (!req.isRank0) req.barrier();
    const reader = await openDataset(
      {
        path: dataPath,
        tokenizerDir: model.dir,
        maxSeqLen: first.data.max_seq_len,
        seed: first.training.seed,
        buildDir,
        template: first.data.template,
        format: first.data.format,
        lossOn: first.data.loss_on,
        pack: first.data.pack,
        skipBad: first.data.skip_bad,
      },
      log,
    );
    if (req.isRank0) req.barrier();
    if (reader.manifest.max_seq_len > first.training.max_seq_len) {
      throw new Error(
        `${reader.dir}: rows of up to ${reader.manifest.max_seq_len} tokens exceed training.max_seq_len ${first.training.max_seq_len}; rebuild the data or raise --max-seq-len`,
      );
    }
    const { config, warnings } = loadConfig(req.configPath, {
      sets: req.sets,
      flags: req.flags,
      context: { worldSize: req.worldSize, hiddenSize: model.spec.hidden, datasetRows: reader.numRows },
    });
    return { config, warnings, model, reader, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
