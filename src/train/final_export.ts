// final/: the trained model as a Hugging Face directory shaped like the base model (tensor
// names, config, generation config, tokenizer files, remote code; src/checkpoint/hf_export.ts).
// Streams unit by unit: under ZeRO-3 each unit is gathered, written by rank 0 and released,
// so no rank holds the whole model. Every rank must call it (the gathers are collective).
import { writeUnitTensors } from '../checkpoint/consolidate.js';
import { type ExportDtype, HfExportWriter } from '../checkpoint/hf_export.js';
import type { ModelSpec } from '../model/spec.js';
import type { ZeroEngine } from '../zero/zero_engine.js';

/**
 * dtype: the tensors' dtype; null keeps each tensor's dtype from the base checkpoint (a base
 * without weights needs one). Returns the files written (rank 0) or [].
 */
export function exportFinal(engine: ZeroEngine, spec: ModelSpec, baseDir: string, target: string, writer: boolean, dtype: ExportDtype | null): string[] {
  const w = writer ? new HfExportWriter(baseDir, target, spec, { overwrite: true, ...(dtype ? { dtype } : {}) }) : null;
  // A write that fails (a full disk) is kept until every unit has been gathered: the other
  // ranks are in those gathers too, and leaving them would hang the job.
  const failures: unknown[] = [];
  try {
    engine.forEachWholeUnit((views, unit) => {
      if (!w || failures.length > 0) return;
      try {
        writeUnitTensors(w, engine.table, unit, views);
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
