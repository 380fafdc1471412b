// telechat-export of a LoRA checkpoint (or any PEFT adapter dir): the frozen base with the
// adapters merged, W + alpha / r * B A (model/lora.ts mergeInto), as an HF dir shaped like the
// base. The base is --model, else the adapter's base_model_name_or_path. One unit in memory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildLoraTable, loraScale, loraTargets, mergedMatrices } from '../model/lora.js';
import { buildParamTable, FlatParams } from '../model/params.js';
import { DType, MemCategory } from '../native/tensor.js';
import { unitOf } from '../zero/partition.js';
import { CheckpointError, HfTensorSource, loadHfSpec, loadHfWeights } from './hf.js';
import { writeByUnit } from './consolidate.js';
import { type ExportDtype, HfExportWriter } from './hf_export.js';
import { ADAPTER_CONFIG, loadAdapterWeights, readAdapterConfig } from './peft.js';

/** The adapter dir of a LoRA checkpoint (checkpoint-N/adapter) or an adapter dir itself; null if neither. */
export function adapterDirOf(checkpoint: string): string | null {
  if (existsSync(join(checkpoint, 'adapter', ADAPTER_CONFIG))) return join(checkpoint, 'adapter');
  if (existsSync(join(checkpoint, ADAPTER_CONFIG))) return checkpoint;
  return null;
}

export function mergeAdapter(adapterDir: string, baseDir: string | null, outDir: string, dtype: ExportDtype | null, overwrite = false): string[] {
  const cfg = readAdapterConfig(adapterDir);
  const base = baseDir ?? cfg.base_model_name_or_path;
  if (base === null) throw new CheckpointError(`${adapterDir}/adapter_config.json: no base_model_name_or_path; give the base model with --model`);
  if (!existsSync(join(base, 'config.json'))) throw new CheckpointError(`${base}: base model dir has no config.json (give the base with --model)`);
  const spec = loadHfSpec(base);
  const src = new HfTensorSource(base);
  const names = [...src.names()];
  src.close();
  const targets = loraTargets(spec, { targetModules: cfg.target_modules }, names, `${join(adapterDir, 'adapter_config.json')}: target_modules`);
  const loraTable = buildLoraTable(spec, targets, cfg.r, 1);
  const adapters = new FlatParams(loraTable, DType.F32, MemCategory.Buffers);
  const table = buildParamTable(spec, 1);
  const scale = loraScale({ r: cfg.r, alpha: cfg.lora_alpha });
  try {
    loadAdapterWeights(adapterDir, targets, cfg.r, adapters);
    const writer = new HfExportWriter(base, outDir, spec, { overwrite, ...(dtype ? { dtype } : {}) });
    return writeByUnit(writer, table, 'merge', (u, _i, _unit, views) => {
      loadHfWeights(base, spec, views, (n) => unitOf(table, n) === u);
      if (typeof u.unit !== 'number') return;
      for (const [name, values] of mergedMatrices(targets, u.unit, views, adapters, cfg.r, scale)) views.tensor(name).writeFloat32(values);
    });
  } finally {
    adapters.free();
  }
}
