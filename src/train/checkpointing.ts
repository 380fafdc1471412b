// Training checkpoints: OUTPUT/checkpoint-NNNNNN/ holds hf/ (a loadable HF dir; a LoRA run
// writes adapter/ instead: the frozen base is the --model dir), zero/ (each
// rank's optimizer state and its layout) and trainer_state.json (step, scheduler, loss scaler,
// seed and the identity of model shape, dataset and global batch). A checkpoint is written
// under a temporary name, fsynced, then renamed; OUTPUT/latest names the newest complete one
// and is written last, so a crash at any point leaves the previous checkpoint usable. A write
// that fails (a full disk) is agreed on by all ranks at the next collective point, the partial
// temp dir is removed and the error names the checkpoint, the latest valid one and the space a
// save needs.
import { isDeepStrictEqual } from 'node:util';
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../checkpoint/hf.js';
// (writes every byte or throws: write(2) may return short on a full disk, which a single call would take for done)
import { type JsonLine, readJsonLineFile, writeFileAtomic } from '../observe/files.js';
import { writeSafetensors } from '../checkpoint/safetensors.js';
import { rankFileName, STATE_KINDS, tensorName, unitList, ZeroStateReader, type ZeroLayout } from '../checkpoint/zero_state.js';
import type { Manifest } from '../data/manifest.js';
import type { ModelSpec } from '../model/spec.js';
import type { LossScalerState } from '../zero/loss_scaler.js';
import type { ZeroEngine } from '../zero/zero_engine.js';
import type { ExportDtype } from '../checkpoint/hf_export.js';
import type { TrainingRecord } from '../checkpoint/training_record.js';
import type { LoraSection, SchedulerConfig } from '../config/types.js';
import { show } from '../config/errors.js';
import { isObject } from '../config/validate.js';
import { exportFinal } from './final_export.js';
import { faultPoint } from './faults.js';
import type { EvalState } from './evaluate.js';
import { readsBaseLr, type SchedulerState } from './schedules.js';

export interface ModelIdentity {
  layout: string;
  hidden: number;
  layers: number;
  heads: number;
  kv_heads: number;
  ffn: number;
  vocab: number;
  tied: boolean;
}

export interface DatasetIdentity {
  rows: number;
  tokens: number;
  shards: string[];
}

export interface TrainerState {
  format: 'telechat-trainer-state';
  version: 1;
  /** Optimizer steps completed (1-based count). */
  step: number;
  epoch: number;
  /** Rows consumed: step * global batch. The data cursor: the sampler is a function of (seed, step). */
  samples: number;
  global_batch: number;
  seed: number;
  scheduler: SchedulerState;
  loss_scaler: LossScalerState;
  precision: string;
  world_size: number;
  zero_stage: number;
  model: ModelIdentity;
  dataset: DatasetIdentity;
  summary: { tokens: number; first_loss: number | null; best_loss: number | null; skipped: number };
  /** Best eval loss and patience (absent in runs without evaluation). */
  eval?: EvalState;
  /** A LoRA run's lora section (absent: full fine-tuning). */
  lora?: LoraSection;
  /** The learning-rate schedule the steps so far followed, as resolved (absent in older checkpoints). */
  lr_schedule?: LrSchedule;
}

export interface LrSchedule {
  lr: number;
  scheduler: SchedulerConfig;
}

/**
 * A resume whose learning-rate schedule is not the one the checkpoint's steps followed (a lr or a
 * scheduler setting changed, or the run length that sets a total_num_steps not given or a warm-up
 * ratio's steps): one warning naming each change, since the steps from here on are then not those
 * of one run. fromRunLength: the scheduler params the run length set (config.run).
 */
export function scheduleChangeWarning(dir: string, state: TrainerState, now: LrSchedule, fromRunLength: readonly string[]): string | null {
  const was = state.lr_schedule;
  if (was === undefined) return null;
  const changes: string[] = [];
  // the optimizer's lr only counts where the schedule reads it (OneCycleLR, say, sets its own),
  // over the updates so far and the next
  if (was.lr !== now.lr && readsBaseLr(now.scheduler, was.lr, now.lr, state.step + 1)) {
    changes.push(`optimizer.params.lr ${show(was.lr)} -> ${show(now.lr)}`);
  }
  if (was.scheduler.type !== now.scheduler.type) {
    changes.push(`scheduler.type ${show(was.scheduler.type)} -> ${show(now.scheduler.type)}`);
  } else {
    const a: Record<string, unknown> = { ...was.scheduler.params };
    const b: Record<string, unknown> = { ...now.scheduler.params };
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      if (!isDeepStrictEqual(a[key], b[key])) changes.push(`scheduler.params.${key} ${show(a[key])} -> ${show(b[key])}`);
    }
  }
  if (changes.length === 0) return null;
  // settings the run length set (a total not given, a warm-up ratio) changed with it
  const moved = fromRunLength.filter((key) => changes.some((c) => c.startsWith(`scheduler.params.${key} `))).map((key) => `scheduler.params.${key}`);
  const length = moved.length > 0
    ? ` (${moved.join(' and ')} ${moved.length > 1 ? 'follow' : 'follows'} the run length, which --max-steps or the epochs set: give ${moved.length > 1 ? 'them' : 'it'} in the config to keep one schedule across resumes)`
    : '';
  return `--resume ${dir}: the learning-rate schedule is not the one its ${state.step} step(s) followed: ${changes.join(', ')}; steps ${state.step + 1} on follow the new one${length}`;
}

/** A resume whose LoRA dropout is not the checkpoint's: the steps from here on use the new one. */
export function loraDropoutChangeWarning(dir: string, state: TrainerState, now: LoraSection | null): string | null {
  const was = state.lora;
  if (!was || !now || was.dropout === now.dropout) return null;
  return `--resume ${dir}: lora.dropout ${was.dropout} -> ${now.dropout}: its ${state.step} step(s) trained with ${was.dropout}, steps ${state.step + 1} on with ${now.dropout}`;
}

export function modelIdentity(spec: ModelSpec): ModelIdentity {
  return { layout: spec.layout, hidden: spec.hidden, layers: spec.nLayers, heads: spec.nHeads, kv_heads: spec.nKvHeads, ffn: spec.ffn, vocab: spec.vocab, tied: spec.tiedEmbeddings };
}

export function datasetIdentity(m: Manifest): DatasetIdentity {
  return { rows: m.rows, tokens: m.tokens, shards: m.shards.map((s) => s.sha256) };
}

export function checkpointName(step: number): string {
  return `checkpoint-${String(step).padStart(6, '0')}`;
}

function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface SaveContext {
  engine: ZeroEngine;
  spec: ModelSpec;
  /** The base model dir (names, config, tokenizer, remote code for hf/). */
  baseDir: string;
  outDir: string;
  isRank0: boolean;
  /** hf/ dtype: null keeps the base checkpoint's. */
  hfDtype: ExportDtype | null;
  /** The run's chat template and max_seq_len, recorded in hf/ (and a LoRA run's adapter/). */
  trained: TrainingRecord;
  saveTotalLimit: number | null;
  /** LoRA: the adapter table's units for zero/, and adapter/ written in place of hf/. */
  lora?: { units: Array<{ key: string; length: number }>; writeAdapter: (dir: string) => void };
}

/** Every rank calls this after optimizer step `state.step`. */
export function saveCheckpoint(ctx: SaveContext, state: TrainerState): string {
  const { engine, isRank0 } = ctx;
  const name = checkpointName(state.step);
  const final = join(ctx.outDir, name);
  const tmp = join(ctx.outDir, `${name}.tmp`);
  // Each phase ends with a collective in place of a barrier, through which every rank learns
  // whether any rank's writes failed; then all of them stop with the same error.
  const phase = (fn: () => void): void => {
    let err: unknown = null;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    const failures = engine.allReduceSum(err === null ? 0 : 1);
    if (failures === 0) return;
    if (isRank0 || err !== null) rmSync(tmp, { recursive: true, force: true });
    throw saveFailure(ctx, name, tmp, err ?? `${failures} other rank(s) could not write their part (their errors say why)`);
  };
  phase(() => {
    if (!isRank0) return;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, 'zero'), { recursive: true });
  });
  // zero/: this rank's optimizer state (stage 0 keeps the whole state on every rank: rank 0 writes it)
  const units = ctx.lora ? ctx.lora.units : unitList(ctx.spec);
  const ranges: Array<[number, number]> = units.map((_, i) => engine.ownedRange(i));
  phase(() => {
    if (engine.stage === 0 && !isRank0) return;
    const rank = engine.stage > 0 ? engine.rankIndex : 0;
    writeSafetensors(
      join(tmp, 'zero', rankFileName(rank)),
      units.flatMap((u, i) => {
        const s = engine.optimizerState(i);
        const tensors = { master: s.master, exp_avg: s.expAvg, exp_avg_sq: s.expAvgSq };
        return STATE_KINDS.map((kind) => ({
          name: tensorName(u.key, kind),
          dtype: 'F32' as const,
          shape: [ranges[i]![1] - ranges[i]![0]],
          data: () => {
            const v = tensors[kind].toFloat32();
            return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          },
        }));
      }),
    );
    faultPoint('save:after-shards', state.step);
  });
  phase(() => {
    // collective (ZeRO-3 gathers); a failed write on rank 0 still takes part in every gather
    if (ctx.lora) ctx.lora.writeAdapter(join(tmp, 'adapter'));
    else exportFinal(engine, ctx.spec, ctx.baseDir, join(tmp, 'hf'), isRank0, ctx.hfDtype, ctx.trained);
    faultPoint('save:after-hf', state.step);
    if (!isRank0) return;
    const world = engine.stage > 0 ? engine.worldSize : 1;
    const chunkOf = (i: number): number => (engine.stage > 0 ? ranges[i]![1] - ranges[i]![0] : 0);
    const layout: ZeroLayout = {
      format: 'telechat-zero-state',
      version: 1,
      world_size: engine.worldSize,
      stage: engine.stage,
      units,
      files: Array.from({ length: world }, (_, r) => ({
        file: rankFileName(r),
        rank: r,
        ranges: units.map((u, i): [number, number] => (engine.stage > 0 ? [r * chunkOf(i), (r + 1) * chunkOf(i)] : [0, ranges[i]![1]])),
      })),
    };
    writeFileAtomic(join(tmp, 'zero', 'layout.json'), JSON.stringify(layout, null, 2) + '\n');
    writeFileAtomic(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2) + '\n');
  }); // every rank's shard is on disk
  phase(() => {
    if (!isRank0) return;
    fsyncDir(join(tmp, 'zero'));
    fsyncDir(tmp);
    faultPoint('save:before-rename', state.step);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    fsyncDir(ctx.outDir);
    faultPoint('save:before-latest', state.step);
    writeFileAtomic(join(ctx.outDir, 'latest'), name + '\n');
    pruneCheckpoints(ctx.outDir, ctx.saveTotalLimit, name);
  });
  return final;
}

function treeBytes(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, f) => sum + treeBytes(join(path, f)), 0);
}

/** The newest complete checkpoint named by OUTPUT/latest, or null. */
function latestValid(outDir: string): string | null {
  try {
    const dir = join(outDir, readFileSync(join(outDir, 'latest'), 'utf8').trim());
    return existsSync(join(dir, 'trainer_state.json')) ? dir : null;
  } catch {
    return null;
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** What failed, what is still valid, and how much room a save takes. */
function saveFailure(ctx: SaveContext, name: string, tmp: string, err: unknown): Error {
  const cause = err instanceof Error ? err.message : String(err);
  const latest = latestValid(ctx.outDir);
  // a save takes what the previous one took; without one: fp32 master + 2 Adam moments (12 bytes
  // per parameter over all ranks) plus hf/ (4 bytes per parameter at most)
  let need: number;
  try {
    need = latest !== null ? treeBytes(latest) : ctx.engine.table.count * (12 + 4);
  } catch {
    need = ctx.engine.table.count * (12 + 4);
  }
  let free = '';
  try {
    const fs = statfsSync(ctx.outDir);
    free = `; ${mib(fs.bavail * fs.bsize)} free there now`;
  } catch {
    /* no statfs: leave it out */
  }
  return new Error(
    `cannot save ${name} in ${ctx.outDir} (rank ${ctx.engine.rankIndex}): ${cause}. ` +
      `The partial ${tmp} was removed. ` +
      (latest !== null ? `${latest} is still the latest valid checkpoint (continue with --resume auto once there is room). ` : `There is no earlier complete checkpoint in ${ctx.outDir}. `) +
      `A checkpoint needs about ${mib(need)}${free}.`,
  );
}

/** Keeps the newest `limit` complete checkpoints, plus the one just written and the one `best` names. */
function pruneCheckpoints(outDir: string, limit: number | null, keep: string): void {
  if (limit === null || limit <= 0) return;
  const all = readdirSync(outDir).filter((f) => /^checkpoint-\d{6}$/.test(f)).sort();
  const kept = new Set([...all.slice(-limit), keep, readPointer(outDir, 'best')]);
  for (const f of all) if (!kept.has(f)) rmSync(join(outDir, f), { recursive: true, force: true });
}

/** The checkpoint name OUTPUT/latest or OUTPUT/best holds, or null without the file. */
export function readPointer(outDir: string, name: 'latest' | 'best'): string | null {
  const path = join(outDir, name);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : null;
}

/**
 * Rank 0, on a resume from a checkpoint of this output dir that `latest` does not name (an earlier
 * one, to redo the later steps, say with another learning rate): `latest` names it from now on.
 * The later checkpoints hold the steps this run redoes; were `latest` left on them, a crash before
 * this run's first save would make `--resume auto` continue those steps (or take the last of them
 * for the finished run) instead of this run's. A checkpoint of another dir leaves `latest` alone.
 * Returns a line for the log when `latest` changed, else null.
 */
export function repointLatest(outDir: string, dir: string): string | null {
  const real = realpathSync(dir); // (an output dir reached through a symlink is the same dir)
  const name = basename(real);
  if (dirname(real) !== realpathSync(outDir) || !/^checkpoint-\d{6}$/.test(name)) return null;
  const pointer = readPointer(outDir, 'latest');
  if (pointer === name) return null;
  writeFileAtomic(join(outDir, 'latest'), name + '\n');
  return `latest: ${name}, the resumed checkpoint${pointer !== null ? ` (it named ${pointer}, whose steps this run redoes)` : ''}`;
}

/**
 * Rank 0, after checkpoint-<step> is complete: `best` names it (written atomically, like `latest`),
 * and the checkpoint it named before goes too when it is not among the newest `saveTotalLimit`.
 */
export function writeBestPointer(outDir: string, step: number, saveTotalLimit: number | null): void {
  writeFileAtomic(join(outDir, 'best'), checkpointName(step) + '\n');
  pruneCheckpoints(outDir, saveTotalLimit, checkpointName(step));
}

/**
 * Rank 0, on a resume: makes `best` name the checkpoint the resumed trainer_state calls best.
 * A resume from an earlier checkpoint rewrites the later ones, so a `best` an abandoned segment
 * wrote may name weights that are gone; and retention (pruneCheckpoints) keeps whatever `best`
 * names. The best step's checkpoint counts only when its own trainer_state recorded itself as that
 * best (same step and eval loss): one rewritten since holds other weights. Returns a line for
 * the log when `best` changed or the best checkpoint is missing, else null.
 */
export function reconcileBestPointer(outDir: string, state: TrainerState, saveBest: boolean): string | null {
  const pointer = readPointer(outDir, 'best');
  if (!saveBest && pointer === null) return null;
  const ev = state.eval;
  // a best without a finite loss (saved as null) is no best (EvalLoop.restore reads it so too)
  const best = ev?.best_step != null && ev.best_loss != null ? { step: ev.best_step, loss: ev.best_loss, name: checkpointName(ev.best_step) } : null;
  if (best && holdsBest(join(outDir, best.name), best)) {
    if (pointer === best.name) return null;
    writeFileAtomic(join(outDir, 'best'), best.name + '\n');
    return `best: ${best.name} (eval loss ${best.loss.toFixed(4)} at step ${best.step}, the resumed checkpoint's best)${pointer !== null ? ` in place of ${pointer}` : ''}`;
  }
  if (pointer !== null) rmSync(join(outDir, 'best'), { force: true });
  const removed = pointer !== null ? `; removed "best" (it named ${pointer})` : '';
  if (!best) return pointer !== null ? `note: best: the resumed checkpoint has no best evaluation yet${removed}` : null;
  return `note: best: the resumed checkpoint's best, ${best.name} (eval loss ${best.loss.toFixed(4)} at step ${best.step}), is not in ${outDir} with those weights ` +
    `(removed since, or the resume came from another output dir)${removed}; ` +
    'it will name the next checkpoint whose eval loss is lower';
}

/** Whether dir is the checkpoint saved at the best evaluation: its state recorded itself as that best. */
function holdsBest(dir: string, best: { step: number; loss: number }): boolean {
  try {
    const s = readTrainerState(dir);
    return s.step === best.step && s.eval?.best_step === best.step && s.eval.best_loss === best.loss;
  } catch {
    return false; // missing or unreadable: not a checkpoint to point at
  }
}

/** The checkpoint dir --resume names: auto = OUTPUT/latest. */
export function findResumeDir(outDir: string, resume: string): string {
  if (resume !== 'auto') {
    if (!existsSync(resume)) throw new CheckpointError(`--resume ${resume}: no such directory`);
    if (!existsSync(join(resume, 'trainer_state.json'))) {
      // an output dir given for one of its checkpoints: say which one it names
      const pointer = join(resume, 'latest');
      const newest = existsSync(pointer) ? join(resume, readFileSync(pointer, 'utf8').trim()) : null;
      const hint = newest !== null ? `; it is an output dir, whose newest checkpoint is ${newest}: pass that, or --resume auto with --output-dir ${resume}` : '';
      throw new CheckpointError(`--resume ${resume}: not a checkpoint directory (no trainer_state.json)${hint}`);
    }
    return resume;
  }
  const latest = latestCheckpoint(outDir);
  if (!latest) throw new CheckpointError(`--resume auto: no checkpoint in ${outDir} (no "latest" file)`);
  if (!latest.complete) throw new CheckpointError(`${join(outDir, 'latest')} names ${latest.dir}, which is not a complete checkpoint`);
  return latest.dir;
}

/** The checkpoint dir OUTPUT/latest names and whether it is complete (has trainer_state.json); null without `latest`. */
function latestCheckpoint(outDir: string): { dir: string; complete: boolean } | null {
  const name = readPointer(outDir, 'latest');
  if (name === null) return null;
  const dir = join(outDir, name);
  return { dir, complete: existsSync(join(dir, 'trainer_state.json')) };
}

/** Whether `--resume auto` would find a checkpoint to continue in outDir (findResumeDir would not throw). */
export function canResumeAuto(outDir: string): boolean {
  return latestCheckpoint(outDir)?.complete ?? false;
}

export function readTrainerState(dir: string): TrainerState {
  const path = join(dir, 'trainer_state.json');
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as TrainerState;
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read (${(err as Error).message})`);
  }
  if (state.format !== 'telechat-trainer-state' || state.version !== 1) throw new CheckpointError(`${path}: not a telechat trainer state (format/version)`);
  // what a resume reads, present with its type: a damaged or hand-edited file is named, not a TypeError later
  const fields: Array<[string, 'number' | 'object']> = [
    ['step', 'number'], ['epoch', 'number'], ['samples', 'number'], ['global_batch', 'number'], ['seed', 'number'], ['world_size', 'number'],
    ['zero_stage', 'number'], ['scheduler', 'object'], ['loss_scaler', 'object'], ['model', 'object'], ['dataset', 'object'], ['summary', 'object'],
  ];
  const record = state as unknown as Record<string, unknown>;
  for (const [key, type] of fields) {
    const v = record[key];
    if (v === undefined) throw new CheckpointError(`${path}: missing key "${key}"`);
    if (typeof v !== type || v === null || (type === 'number' && !Number.isFinite(v))) throw new CheckpointError(`${path}: "${key}" must be ${type === 'number' ? 'a number' : 'an object'}, got ${JSON.stringify(v)}`);
  }
  if (!Array.isArray(state.dataset.shards)) throw new CheckpointError(`${path}: "dataset.shards" must be a list`);
  const lr = record['lr_schedule'];
  if (lr !== undefined && !(isObject(lr) && typeof lr['lr'] === 'number' && isObject(lr['scheduler']) && typeof lr['scheduler']['type'] === 'string' && isObject(lr['scheduler']['params']))) {
    throw new CheckpointError(`${path}: "lr_schedule" must be {"lr": number, "scheduler": {"type": ..., "params": {...}}}, got ${JSON.stringify(lr)}`);
  }
  return state;
}

/** What a resume must find unchanged: the model's shape, the dataset, the global batch. */
export interface ResumeIdentity {
  model: ModelIdentity;
  dataset: DatasetIdentity;
  globalBatch: number;
  /** This run's split of it (a refused global batch then says how to keep the checkpoint's). */
  split?: { micro: number; accumulation: number; worldSize: number };
}

/** What a global batch refused on resume was made of, and the flags that keep the checkpoint's on these ranks. */
function keepBatchHint(saved: number, split: NonNullable<ResumeIdentity['split']>): string {
  const { micro, accumulation, worldSize } = split;
  const made = `micro-batch ${micro} x accumulation ${accumulation} x ${worldSize} rank(s)`;
  const perStep = micro * worldSize;
  const keep = saved % perStep === 0
    ? `--set train_batch_size=${saved} --set gradient_accumulation_steps=${saved / perStep}`
    : `a micro-batch x accumulation that makes ${saved / worldSize} (train_batch_size ${saved})`;
  if (saved % worldSize !== 0) return ` (${made}; ${saved} rows do not split over ${worldSize} rank(s): resume on a world size that divides ${saved})`;
  return ` (${made}; to keep ${saved} rows per step on ${worldSize} rank(s): ${keep})`;
}

/**
 * Refuses a resume that would not continue the same run; names every difference. `select` gives
 * the modules a LoRA target_modules list selects (LoraRun.select), so spellings that select the
 * same modules ("query", "self_attention.query") are the same run.
 */
function checkResume(dir: string, saved: TrainerState, now: ResumeIdentity, lora: LoraSection | null = null,
  select: (targetModules: string[]) => string[] = (m) => m): void {
  const diffs: string[] = [];
  const loraKey = (l: LoraSection | null | undefined): string => (l ? `LoRA r ${l.r}, alpha ${l.alpha}, dropout ${l.dropout}, targets ${l.target_modules.join(',')}` : 'full fine-tuning');
  const selected = (modules: string[]): string | null => {
    try {
      return select(modules).join();
    } catch {
      return null; // modules this base does not have: another run
    }
  };
  // the adapters' shapes and scale make the run; their dropout is a hyperparameter, like the lr
  // (a change is a warning: loraDropoutChangeWarning)
  const sameRun = (a: LoraSection | null | undefined, b: LoraSection | null): boolean =>
    !a || !b ? !a === !b : a.r === b.r && a.alpha === b.alpha && selected(a.target_modules) !== null && selected(a.target_modules) === selected(b.target_modules);
  if (!sameRun(saved.lora, lora)) diffs.push(`${loraKey(saved.lora)} -> ${loraKey(lora)}`);
  for (const k of Object.keys(now.model) as Array<keyof ModelIdentity>) {
    if (saved.model[k] !== now.model[k]) diffs.push(`model ${k} ${String(saved.model[k])} -> ${String(now.model[k])}`);
  }
  if (saved.dataset.rows !== now.dataset.rows || saved.dataset.tokens !== now.dataset.tokens || saved.dataset.shards.join() !== now.dataset.shards.join()) {
    diffs.push(`dataset (${saved.dataset.rows} rows, ${saved.dataset.tokens} tokens -> ${now.dataset.rows} rows, ${now.dataset.tokens} tokens, or different shard contents)`);
  }
  if (saved.global_batch !== now.globalBatch) {
    diffs.push(`global batch ${saved.global_batch} -> ${now.globalBatch}${now.split ? keepBatchHint(saved.global_batch, now.split) : ''}`);
  }
  if (diffs.length) throw new CheckpointError(`${dir}: cannot resume a different run: ${diffs.join('; ')}`);
}

/**
 * The checkpoint --resume names, checked to continue this run (checkResume) with its optimizer
 * state's files open on the run's units; the caller closes `zero`. The trainer loads from it;
 * --dry-run opens and closes it, so a resume that would fail fails there too.
 */
export function openResume(outDir: string, resume: string, now: ResumeIdentity, lora: { section: LoraSection; select: (targetModules: string[]) => string[] } | null,
  units: Array<{ key: string; length: number }>): { dir: string; state: TrainerState; zero: ZeroStateReader } {
  const dir = findResumeDir(outDir, resume);
  const state = readTrainerState(dir);
  checkResume(dir, state, now, lora?.section ?? null, lora?.select);
  const zero = new ZeroStateReader(join(dir, 'zero'));
  try {
    zero.checkUnits(units);
  } catch (err) {
    zero.close();
    throw err;
  }
  return { dir, state, zero };
}

/** The step logs in an output dir that a resume cuts back to the checkpoint's step. */
export const STEP_LOGS = ['metrics.jsonl', 'eval.jsonl'] as const;

/**
 * metrics.jsonl and eval.jsonl keep only the steps the checkpoint covers: a crash may have
 * logged more, and the abandoned steps' evaluations go even when the resumed segment has no eval
 * set. A torn last line (a crash in the middle of a write) is dropped; any other line that is not
 * a JSON record with an integer "step" is an error naming FILE:LINE, and then neither file changes.
 */
export function cutBackStepLogs(outDir: string, step: number): void {
  for (const c of stepLogCuts(outDir, step)) writeFileAtomic(c.path, c.text);
}

/** What cutBackStepLogs would write, each file checked; a bad line throws (--dry-run checks so). */
export function stepLogCuts(outDir: string, step: number): Array<{ path: string; text: string }> {
  return STEP_LOGS.map((name) => join(outDir, name))
    .filter((path) => existsSync(path))
    .map((path) => ({ path, text: linesThrough(path, step) }));
}

/** The lines of a step log at or before `step` (see cutBackStepLogs). */
function linesThrough(path: string, step: number): string {
  const advice = `the resume cuts this file back to step ${step}: fix or remove the line`;
  let lines: JsonLine[];
  try {
    lines = readJsonLineFile(path).lines; // a torn last line, as telechat-report reads it too, is dropped
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${advice}`);
  }
  return lines.filter(({ value, n }) => {
    const s = typeof value === 'object' && value !== null ? (value as { step?: unknown }).step : undefined;
    if (typeof s !== 'number' || !Number.isInteger(s)) throw new Error(`${path}:${n}: not a step record (no integer "step"); ${advice}`);
    return s <= step;
  }).map(({ text }) => text + '\n').join('');
}
