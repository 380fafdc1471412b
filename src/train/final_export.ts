// final/: the trained model as a Hugging Face directory with the base model's tensor names,
// config, generation config, tokenizer files and remote code. Streams unit by unit: under
// ZeRO-3 each unit is gathered, written by rank 0 and released, so no rank ever holds the
// whole model. Every rank must call it (the gathers are collective).
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToBytes, type FileDtype } from '../checkpoint/dtypes.js';
import { HfTensorSource, hfTensorValues } from '../checkpoint/hf.js';
import { SafetensorsStreamWriter } from '../checkpoint/safetensors.js';
import { checkpointLayout, type TensorMap } from '../model/layouts/index.js';
import type { ModelSpec } from '../model/spec.js';
import { unitOf } from '../zero/partition.js';
import type { ZeroEngine } from '../zero/zero_engine.js';

const COPIED_FILES = /^(config\.json|generation_config\.json|tokenizer.*|special_tokens_map\.json|.*\.py)$/;

function baseTensorNames(baseDir: string): string[] | undefined {
  if (!existsSync(join(baseDir, 'model.safetensors')) && !existsSync(join(baseDir, 'model.safetensors.index.json'))) return undefined;
  const src = new HfTensorSource(baseDir);
  try {
    return src.names();
  } finally {
    src.close();
  }
}

export function exportFinal(engine: ZeroEngine, spec: ModelSpec, baseDir: string, target: string, writer: boolean, dtype: FileDtype): void {
  const layout = checkpointLayout(spec, writer ? baseTensorNames(baseDir) : undefined);
  const unitIndex = (m: TensorMap): number => engine.table.units.indexOf(unitOf(engine.table, m.canonical));
  const maps = [...layout.tensors].sort((a, b) => unitIndex(a) - unitIndex(b));
  const tmp = `${target}.tmp-${process.pid}`;
  let file: SafetensorsStreamWriter | null = null;
  if (writer) {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of readdirSync(baseDir)) if (COPIED_FILES.test(f)) copyFileSync(join(baseDir, f), join(tmp, f));
    file = new SafetensorsStreamWriter(join(tmp, 'model.safetensors'), maps.map((m) => ({ name: m.hfName, dtype, shape: m.hfShape })), { format: 'pt' });
  }
  try {
    engine.forEachWholeUnit((views, unit) => {
      if (!file) return;
      for (const m of maps) if (unitOf(engine.table, m.canonical) === unit) file.append(m.hfName, float32ToBytes(hfTensorValues(m, views), dtype));
    });
    if (file) {
      file.close();
      rmSync(target, { recursive: true, force: true });
      renameSync(tmp, target);
    }
  } catch (err) {
    file?.abort();
    if (writer) rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
