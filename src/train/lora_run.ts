// What a LoRA run (config section `lora`) adds around the trainer: the targets, the starting
// adapters (PEFT's init, or an init_adapter dir), the frozen base's weights, and the outputs:
// adapter/ (PEFT layout) and final/ with the adapters merged (W + alpha / r * B A). The
// trainer calls these instead of its full fine-tuning counterparts; the ZeRO engine holds the
// adapters as its trainable table and the base frozen (zero/zero_engine.ts).
import { resolve } from 'node:path';
import type { LoraSection } from '../config/types.js';
import { CheckpointError, hfTensorFromCanonical, HfTensorSource, loadHfWeights } from '../checkpoint/hf.js';
import { type ExportDtype, HfExportWriter } from '../checkpoint/hf_export.js';
import type { TrainingRecord } from '../checkpoint/training_record.js';
import { unitKey } from '../checkpoint/zero_state.js';
import { adapterConfigWarnings, adapterTargets, adapterTensorValues, checkAdapterWeights, loadAdapterWeights, readAdapterConfig, writeAdapterDir } from '../checkpoint/peft.js';
import { initRandomEntries, seededUniform } from '../model/init.js';
import { buildLoraTable, type LoraConfig, loraScale, loraTargets, type LoraTarget, mergedMatrices } from '../model/lora.js';
import type { ModelLora } from '../model/model.js';
import type { ParamTable, ParamViews, UnitRange } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { DType, MemCategory, alloc } from '../native/tensor.js';
import { unitOf } from '../zero/partition.js';
import type { ZeroEngine } from '../zero/zero_engine.js';
import { streamExport } from './final_export.js';

export interface LoraRun {
  cfg: LoraConfig;
  targets: LoraTarget[];
  model: ModelLora;
  initAdapter: string | null;
  /** The module paths a target_modules list selects on this base (spellings that select the same modules agree). */
  select: (targetModules: string[]) => string[];
}

/** HF tensor names of the base dir (they pick the name prefix of the v1 layout). */
function baseNames(dir: string, init: 'pretrained' | 'random'): string[] | undefined {
  if (init !== 'pretrained') return undefined;
  const src = new HfTensorSource(dir);
  try {
    return [...src.names()];
  } finally {
    src.close();
  }
}

/**
 * The run's adapters from the lora section (prepareRun plans them, so --dry-run checks them too).
 * An init_adapter must agree on r, lora_alpha (its B was trained under alpha / r) and target
 * modules; its lora_dropout is the section's to choose (a training hyperparameter of the new
 * run), with a line in `warnings` when the file records a different one. A resumed run takes its
 * adapters from the checkpoint, so its init_adapter is not read (it may have moved since the start).
 */
export function planLora(section: LoraSection, spec: ModelSpec, baseDir: string, init: 'pretrained' | 'random', warnings: string[],
  resuming = false): LoraRun {
  const cfg: LoraConfig = { r: section.r, alpha: section.alpha, dropout: section.dropout, targetModules: section.target_modules };
  const names = baseNames(baseDir, init);
  const targets = loraTargets(spec, cfg, names);
  const select = (targetModules: string[]): string[] => loraTargets(spec, { targetModules }, names).map((t) => t.path);
  if (section.init_adapter !== null && !resuming) {
    const a = readAdapterConfig(section.init_adapter);
    if (a.r !== cfg.r) throw new CheckpointError(`lora.init_adapter ${section.init_adapter}: adapter r = ${a.r}, but lora.r = ${cfg.r}`);
    // the adapter's B was trained under its own alpha / r: another alpha would rescale it silently
    if (a.lora_alpha !== cfg.alpha) throw new CheckpointError(`lora.init_adapter ${section.init_adapter}: adapter lora_alpha = ${a.lora_alpha}, but lora.alpha = ${cfg.alpha}`);
    // the modules each selects (a name, a dotted suffix or "all-linear" may select the same ones)
    const theirTargets = adapterTargets(section.init_adapter, a, spec, names, warnings);
    if (theirTargets.map((t) => t.path).join() !== targets.map((t) => t.path).join()) {
      throw new CheckpointError(`lora.init_adapter ${section.init_adapter}: adapter target_modules ${JSON.stringify(a.target_modules)} select other modules than lora.target_modules ${JSON.stringify(cfg.targetModules)}`);
    }
    if (a.lora_dropout !== null && a.lora_dropout !== cfg.dropout) {
      warnings.push(`lora.init_adapter ${section.init_adapter}: its lora_dropout ${a.lora_dropout} is not used; this run trains with lora.dropout = ${cfg.dropout}`);
    }
    warnings.push(...adapterConfigWarnings(section.init_adapter, a, targets.some((t) => t.conv1d), baseDir));
    checkAdapterWeights(section.init_adapter, targets, cfg.r);
  }
  return { cfg, targets, model: { targets, r: cfg.r, scale: loraScale(cfg), dropout: cfg.dropout }, initAdapter: resuming ? null : section.init_adapter, select };
}

/** Adapter table units at world size 1 (the ZeRO state's unit list of a LoRA run). */
export function loraUnitList(spec: ModelSpec, run: LoraRun): Array<{ key: string; length: number }> {
  return buildLoraTable(spec, run.targets, run.cfg.r, 1).units.map((u) => ({ key: unitKey(u.unit), length: u.end - u.start }));
}

/**
 * PEFT's initialisation (tuners/lora/layer.py reset_lora_parameters): A ~ kaiming_uniform_(a =
 * sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0. Drawn from a seeded generator in target
 * order, so every world size starts from the same adapters.
 */
function initAdapters(views: ParamViews, targets: readonly LoraTarget[], r: number, uniform: () => number): void {
  for (const t of targets) {
    const bound = 1 / Math.sqrt(t.in);
    views.tensor(t.a).writeFloat32(Float32Array.from({ length: r * t.in }, () => (2 * uniform() - 1) * bound));
    views.tensor(t.b).writeFloat32(new Float32Array(t.out * r));
  }
}

/** The frozen base: pretrained weights, or the seeded random init (also on resume: checkpoints hold no base). */
export function initLoraBase(engine: ZeroEngine, source: { dir: string; spec: ModelSpec; init: 'pretrained' | 'random' }, seed: number): void {
  const baseTable = engine.baseTable!;
  const uniformBase = seededUniform(seed);
  engine.initBase((views, unit) => {
    const inUnit = (name: string): boolean => unitOf(baseTable, name) === unit;
    if (source.init === 'pretrained') loadHfWeights(source.dir, source.spec, views, inUnit);
    else initRandomEntries(views, baseTable.entries.filter((e) => inUnit(e.name)), source.spec.initializerRange, uniformBase);
  });
}

/** The starting adapters, unit by unit: init_adapter's, or PEFT's initialisation. */
export function initLoraWeights(engine: ZeroEngine, run: LoraRun, seed: number): void {
  const uniform = seededUniform(seed ^ 0x10a4);
  engine.initParams((views, unit) => {
    const mine = run.targets.filter((t) => unitOf(engine.table, t.a) === unit);
    if (run.initAdapter !== null) loadAdapterWeights(run.initAdapter, run.targets, run.cfg.r, views, (t) => mine.includes(t));
    else initAdapters(views, mine, run.cfg.r, uniform);
  });
}

/** adapter/: every rank takes part (stage-3 gathers are collective); rank 0 writes. */
export function saveAdapter(engine: ZeroEngine, run: LoraRun, spec: ModelSpec, baseDir: string, outDir: string, writer: boolean, trained: TrainingRecord): void {
  const values = new Map<LoraTarget, { a: Float32Array; b: Float32Array }>();
  engine.forEachWholeUnit((views, unit) => {
    if (!writer) return;
    for (const t of run.targets) if (unitOf(engine.table, t.a) === unit) values.set(t, adapterTensorValues(t, run.cfg.r, views));
  });
  if (writer) writeAdapterDir(outDir, { cfg: run.cfg, targets: run.targets, values, baseModel: resolve(baseDir), conv1d: spec.layout === 'telechat-52b', trained });
}

/**
 * final/ of a random-init base (which exists only in the engine, in the training dtype): the base
 * with every adapter merged, as an HF dir shaped like the base. Streams unit by unit like
 * exportFinal; every rank must call it. A pretrained base is merged from its files instead
 * (checkpoint/lora_merge.ts, as telechat-export does).
 */
export function exportMerged(engine: ZeroEngine, run: LoraRun, spec: ModelSpec, baseDir: string, target: string, writer: boolean, dtype: ExportDtype | null, trained: TrainingRecord): string[] {
  const w = writer ? new HfExportWriter(baseDir, target, spec, { overwrite: true, trained, ...(dtype ? { dtype } : {}) }) : null;
  const baseTable = engine.baseTable!;
  return streamExport<[ParamViews, ParamViews, UnitRange]>(w, (visit) => engine.forEachWholeLoraUnit(visit), (writer, base, adapters, unit) =>
    writeMergedUnit(writer, run, baseTable, base, adapters, unit));
}

/** One unit of exportMerged: its tensors, the adapted matrices with their adapters merged. */
function writeMergedUnit(w: HfExportWriter, run: LoraRun, baseTable: ParamTable, base: ParamViews, adapters: ParamViews, unit: UnitRange): void {
  const merged = typeof unit.unit === 'number' ? mergedMatrices(run.targets, unit.unit, base, adapters, run.cfg.r, run.model.scale) : new Map<string, Float32Array>();
  while (w.nextName !== null) {
    const map = w.layout.tensors.find((x) => x.hfName === w.nextName)!;
    if (unitOf(baseTable, map.canonical) !== unit) break;
    const m = merged.get(map.canonical);
    if (!m) {
      w.write(map.hfName, hfTensorFromCanonical(map, base.tensor(map.canonical)));
      continue;
    }
    const tmp = alloc(DType.F32, base.tensor(map.canonical).shape as number[], MemCategory.Buffers, 'cpu');
    try {
      tmp.writeFloat32(m);
      w.write(map.hfName, hfTensorFromCanonical(map, tmp));
    } finally {
      tmp.free();
    }
  }
}
