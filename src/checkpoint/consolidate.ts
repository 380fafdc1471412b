// telechat-export: a training checkpoint's fp32 master weights (zero/, any world size and
// stage) as a Hugging Face directory shaped like its hf/ (names, config, tokenizer, remote
// code). One unit of the model is in memory at a time.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildParamTable, type ParamTable, type UnitRange } from '../model/params.js';
import { DType, MemCategory, alloc, type Tensor } from '../native/tensor.js';
import { UnitViews } from '../zero/unit_views.js';
import { unitOf } from '../zero/partition.js';
import { CheckpointError, hfTensorValues, loadHfSpec } from './hf.js';
import { type ExportDtype, HfExportWriter } from './hf_export.js';
import { drain, type Steps } from './interrupt.js';
import { unitList, ZeroStateReader } from './zero_state.js';

/**
 * A checkpoint dir, or an output dir whose `latest` names one. What is not is named with what
 * to do: a missing path, an HF dir (a run's final/: --model converts it), a `latest` that is
 * empty or names a checkpoint deleted since.
 */
export function checkpointDir(path: string): string {
  if (existsSync(join(path, 'trainer_state.json'))) return path;
  const latest = join(path, 'latest');
  if (existsSync(latest)) {
    const name = readFileSync(latest, 'utf8').trim();
    const pick = `give one with --checkpoint ${join(path, 'checkpoint-NNNNNN')}`;
    if (name === '') throw new CheckpointError(`${latest} is empty (it names the newest checkpoint); ${pick}`);
    const dir = join(path, name);
    if (!existsSync(join(dir, 'trainer_state.json'))) throw new CheckpointError(`${latest} names ${name}, which is not a checkpoint (no ${join(dir, 'trainer_state.json')}); ${pick}`);
    return dir;
  }
  if (!existsSync(path)) throw new CheckpointError(`${path}: no such directory`);
  if (existsSync(join(path, 'config.json'))) throw new CheckpointError(`${path}: an HF model dir, not a training checkpoint; convert it with --model ${path}`);
  throw new CheckpointError(`${path}: not a training checkpoint (no trainer_state.json) nor an output dir with a "latest" file`);
}

/**
 * The HF dir of a full fine-tuning checkpoint, as steps: one unit read or one tensor written each
 * (telechat-export runs them interruptibly, checkpoint/interrupt.ts).
 */
export function* consolidateCheckpointSteps(path: string, outDir: string, dtype: ExportDtype | null, overwrite = false): Steps<string[]> {
  const dir = checkpointDir(path);
  const hfDir = join(dir, 'hf');
  const spec = loadHfSpec(hfDir);
  const state = new ZeroStateReader(join(dir, 'zero'));
  try {
    state.checkUnits(unitList(spec));
    const table = buildParamTable(spec, 1);
    const writer = new HfExportWriter(hfDir, outDir, spec, { overwrite, ...(dtype ? { dtype } : {}) });
    return yield* writeByUnitSteps(writer, table, 'export', (u, i, unit) => unit.writeFloat32(state.read(i, 'master', 0, u.end - u.start)));
  } finally {
    state.close();
  }
}

/**
 * Writes the whole model through `writer` one unit at a time: fill(range, index, buffer, views)
 * puts the unit's fp32 values into its buffer (views name its tensors), then the unit's HF
 * tensors are written. The writer is finished, or aborted on any error. Steps: the fill, then
 * each tensor (interrupt.ts).
 */
export function* writeByUnitSteps(writer: HfExportWriter, table: ParamTable, what: string,
  fill: (u: UnitRange, index: number, unit: Tensor, views: UnitViews) => void): Steps<string[]> {
  try {
    for (const [i, u] of table.units.entries()) {
      const unit = alloc(DType.F32, [u.end - u.start], MemCategory.Buffers);
      try {
        const views = new UnitViews(table, (r) => {
          if (r.unit !== u.unit) throw new CheckpointError(`${what} of unit ${String(u.unit)} touched unit ${String(r.unit)}`);
          return unit;
        });
        fill(u, i, unit, views);
        yield;
        yield* unitTensorSteps(writer, table, u, views);
      } finally {
        unit.free();
      }
    }
    return writer.finish();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

type UnitTable = Parameters<typeof unitOf>[0];
type Unit = ReturnType<typeof unitOf>;
type Views = Parameters<typeof hfTensorValues>[1];

/** Writes the writer's next HF tensors while they belong to `unit` (HF order follows the units). */
export function writeUnitTensors(writer: HfExportWriter, table: UnitTable, unit: Unit, views: Views): void {
  drain(unitTensorSteps(writer, table, unit, views));
}

function* unitTensorSteps(writer: HfExportWriter, table: UnitTable, unit: Unit, views: Views): Steps<void> {
  while (writer.nextName !== null) {
    const map = writer.layout.tensors.find((t) => t.hfName === writer.nextName)!;
    if (unitOf(table, map.canonical) !== unit) break;
    writer.write(map.hfName, hfTensorValues(map, views));
    yield;
  }
}
