// A LoRA run's final/ over a pretrained base, and telechat-export of a LoRA checkpoint (or any
// PEFT adapter dir): the frozen base with the
// adapters merged, W + alpha / r * B A (model/lora.ts mergeInto), as an HF dir shaped like the
// base. The base is --model, else the adapter's base_model_name_or_path. One unit in memory.
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { buildLoraTable, type LoraTarget, loraScale, mergedMatrices } from '../model/lora.js';
import { buildParamTable, FlatParams } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { DType, MemCategory } from '../native/tensor.js';
import { unitOf } from '../zero/partition.js';
import { CheckpointError, hasWeights, HfTensorSource, loadHfSpec, loadHfWeights, WEIGHT_FILES } from './hf.js';
import { checkpointDir, writeByUnitSteps } from './consolidate.js';
import { type ExportDtype, HfExportWriter } from './hf_export.js';
import { readTrainingRecord } from './training_record.js';
import { drain, type Steps } from './interrupt.js';
import { ADAPTER_CONFIG, adapterConfigWarnings, adapterTargets, loadAdapterWeights, readAdapterConfig } from './peft.js';

/** The adapter dir of a LoRA checkpoint (checkpoint-N/adapter) or an adapter dir itself; null if neither. */
function adapterDirOf(checkpoint: string): string | null {
  if (existsSync(join(checkpoint, 'adapter', ADAPTER_CONFIG))) {
    if (existsSync(join(checkpoint, 'trainer_state.json'))) return join(checkpoint, 'adapter');
    // a LoRA run's output dir whose `latest` is gone: its adapter/ may be older than its newest checkpoint
    throw new CheckpointError(
      `${checkpoint}: a LoRA run's output dir without its "latest" file (nor a checkpoint: no trainer_state.json); give a checkpoint ` +
        `(--checkpoint ${join(checkpoint, 'checkpoint-NNNNNN')}) or the adapter the run ended with (--checkpoint ${join(checkpoint, 'adapter')})`,
    );
  }
  if (existsSync(join(checkpoint, ADAPTER_CONFIG))) return checkpoint;
  return null;
}

/**
 * The adapters `telechat-export --checkpoint PATH` merges, or null when PATH is no LoRA run: for
 * an output dir those of the checkpoint its `latest` names, as for a full run (its adapter/ may
 * be older: a finished run resumed and stopped again), else PATH's adapter/ (a LoRA checkpoint)
 * or PATH itself (a PEFT adapter dir).
 */
function loraAdapterOf(path: string): string | null {
  return existsSync(join(path, 'latest')) ? adapterDirOf(checkpointDir(path)) : adapterDirOf(path);
}

/**
 * `telechat-export --checkpoint PATH [--model BASE]`, either format: the adapters to merge into
 * BASE, or null for a full checkpoint, beside which --model has no place.
 */
export function checkpointAdapter(checkpoint: string, model: string | undefined): string | null {
  const adapter = loraAdapterOf(checkpoint);
  if (adapter === null && model !== undefined) {
    throw new Error(`--model with --checkpoint is the base of a LoRA checkpoint, and ${checkpoint} holds no adapter/; give one of --checkpoint and --model`);
  }
  return adapter;
}

/** An adapter read and checked against its base: what merging it needs, the adapters in fp32 host memory. */
export interface OpenedAdapter {
  base: string;
  spec: ModelSpec;
  targets: LoraTarget[];
  r: number;
  scale: number;
  adapters: FlatParams;
}

/**
 * Reads the adapter dir against its base (--model, else the adapter's base_model_name_or_path);
 * free() the adapters after. What its config records that does not apply goes to `warn`.
 */
export function openAdapter(adapterDir: string, baseDir: string | null, warn: (message: string) => void): OpenedAdapter {
  const cfg = readAdapterConfig(adapterDir);
  const base = baseDir ?? cfg.base_model_name_or_path;
  if (base === null) throw new CheckpointError(`${adapterDir}/adapter_config.json: no base_model_name_or_path; give the base model with --model`);
  if (!existsSync(join(base, 'config.json'))) throw new CheckpointError(`${base}: base model dir has no config.json (give the base with --model)`);
  // a LoRA run over a random init (the shipped tiny model, no --model) records a base without weights
  if (!hasWeights(base)) {
    throw new CheckpointError(`${base}: the base model dir holds no weights (${WEIGHT_FILES.join(', ')}) for the adapters of ${adapterDir}: give the base they were trained over with --model (a run from a random init holds them merged only in its final/: telechat-export --model RUN/final)`);
  }
  const spec = loadHfSpec(base);
  const src = new HfTensorSource(base);
  const names = [...src.names()];
  src.close();
  const warnings: string[] = [];
  // a --model other than the (still existing) recorded base, e.g. the run's merged final/, is merged
  // as asked; a recorded base that is gone (moved) or a Hub id is not compared
  const recorded = cfg.base_model_name_or_path;
  if (baseDir !== null && recorded !== null && existsSync(join(recorded, 'config.json')) && realpathSync(recorded) !== realpathSync(baseDir)) {
    warnings.push(`${join(adapterDir, ADAPTER_CONFIG)}: the adapters were trained over ${recorded}; --model ${baseDir} is another dir (they fit only the weights they were trained over)`);
  }
  const targets = adapterTargets(adapterDir, cfg, spec, names, warnings);
  for (const w of [...warnings, ...adapterConfigWarnings(adapterDir, cfg, targets.some((t) => t.conv1d), base)]) warn(w);
  const adapters = new FlatParams(buildLoraTable(spec, targets, cfg.r, 1), DType.F32, MemCategory.Buffers);
  try {
    loadAdapterWeights(adapterDir, targets, cfg.r, adapters);
  } catch (err) {
    adapters.free();
    throw err;
  }
  return { base, spec, targets, r: cfg.r, scale: loraScale({ r: cfg.r, alpha: cfg.lora_alpha }), adapters };
}

export function mergeAdapter(adapterDir: string, baseDir: string | null, outDir: string, dtype: ExportDtype | null, warn: (message: string) => void, overwrite = false): string[] {
  return drain(mergeAdapterSteps(adapterDir, baseDir, outDir, dtype, warn, overwrite));
}

/** mergeAdapter as steps, one unit read or one tensor written each (interrupt.ts). */
export function* mergeAdapterSteps(adapterDir: string, baseDir: string | null, outDir: string, dtype: ExportDtype | null, warn: (message: string) => void, overwrite = false): Steps<string[]> {
  const { base, spec, targets, r, scale, adapters } = openAdapter(adapterDir, baseDir, warn);
  try {
    const table = buildParamTable(spec, 1);
    // the run's template and length travel from the adapter dir into the merged one
    const trained = readTrainingRecord(adapterDir);
    const writer = new HfExportWriter(base, outDir, spec, { overwrite, ...(trained ? { trained } : {}), ...(dtype ? { dtype } : {}) });
    return yield* writeByUnitSteps(writer, table, 'merge', (u, _i, _unit, views) => {
      loadHfWeights(base, spec, views, (n) => unitOf(table, n) === u);
      if (typeof u.unit !== 'number') return;
      for (const [name, values] of mergedMatrices(targets, u.unit, views, adapters, r, scale)) views.tensor(name).writeFloat32(values);
    });
  } finally {
    adapters.free();
  }
}
