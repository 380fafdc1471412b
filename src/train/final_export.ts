// final/: the trained model as a Hugging Face directory shaped like the base model (tensor
// names, config, generation config, tokenizer files, remote code; src/checkpoint/hf_export.ts).
// Streams unit by unit: under ZeRO-3 each unit is gathered, written by rank 0 and released,
// so no rank holds the whole model. Every rank must call it (the gathers are collective).
import { writeUnitTensors } from '../checkpoint/consolidate.js';
import { type ExportDtype, HfExportWriter } from '../checkpoint/hf_export.js';
import type { TrainingRecord } from '../checkpoint/training_record.js';
import type { ParamViews, UnitRange } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import type { ZeroEngine } from '../zero/zero_engine.js';

/**
 * dtype: the tensors' dtype; null keeps each tensor's dtype from the base checkpoint (a base
 * without weights needs one). trained: the run's template and length, recorded in the dir
 * (checkpoint/training_record.ts). Returns the files written (rank 0) or [].
 */
export function exportFinal(engine: ZeroEngine, spec: ModelSpec, baseDir: string, target: string, writer: boolean, dtype: ExportDtype | null, trained: TrainingRecord): string[] {
  const w = writer ? new HfExportWriter(baseDir, target, spec, { overwrite: true, trained, ...(dtype ? { dtype } : {}) }) : null;
  return streamExport<[ParamViews, UnitRange]>(w, (visit) => engine.forEachWholeUnit(visit), (writer, views, unit) => writeUnitTensors(writer, engine.table, unit, views));
}

/**
 * Runs `write` for every unit `walk` visits (the engine's unit walk, collective under ZeRO-3) and
 * finishes the writer; w null (not the writing rank) only walks. A write that fails (a full disk)
 * is kept until the walk ends, since the other ranks are in its gathers too and leaving them would
 * hang the job; then the writer is aborted and the failure thrown.
 */
export function streamExport<A extends unknown[]>(w: HfExportWriter | null, walk: (visit: (...args: A) => void) => void,
  write: (writer: HfExportWriter, ...args: A) => void): string[] {
  const failures: unknown[] = [];
  try {
    walk((...args) => {
      if (!w || failures.length > 0) return;
      try {
        write(w, ...args);
      } catch (err) {
        failures.push(err);
      }
    });
    if (failures.length > 0) throw failures[0];
    return w ? w.finish() : [];
  } catch (err) {
    w?.abort();
    throw err;
  }
}
