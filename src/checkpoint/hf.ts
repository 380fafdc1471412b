// Hugging Face checkpoint directories: config.json plus model.safetensors or sharded
// model-0000N-of-0000M.safetensors with model.safetensors.index.json. Import reads one
// tensor at a time into the canonical flat parameters through the model's layout table;
// export is the same table run backwards.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointLayout, type CheckpointLayout, type TensorMap } from '../model/layouts/index.js';
import type { ParamViews } from '../model/params.js';
import { loadModelSpec, type ModelSpec } from '../model/spec.js';
import { float32ToBytes, type FileDtype } from './dtypes.js';
import { SafetensorsReader, writeSafetensors, type StTensorInfo } from './safetensors.js';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Tensors that HF checkpoints may carry which are buffers, not parameters. */
const IGNORED_SUFFIXES = ['attn.masked_bias', 'attn.bias', 'rotary_emb.inv_freq'];

/** All tensors of an HF directory, by name, across shards. */
export class HfTensorSource {
  private readonly readers: SafetensorsReader[] = [];
  private readonly where = new Map<string, SafetensorsReader>();

  constructor(readonly dir: string) {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    if (existsSync(index)) {
      let weightMap: Record<string, string>;
      try {
        weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
      } catch (err) {
        throw new CheckpointError(`${index}: cannot read index: ${(err as Error).message}`);
      }
      if (typeof weightMap !== 'object' || weightMap === null) throw new CheckpointError(`${index}: missing "weight_map"`);
      const byFile = new Map<string, SafetensorsReader>();
      for (const [name, file] of Object.entries(weightMap)) {
        let reader = byFile.get(file);
        if (!reader) {
          const path = join(dir, file);
          if (!existsSync(path)) throw new CheckpointError(`${index}: shard ${file} (holding ${name}) does not exist`);
          reader = new SafetensorsReader(path);
          byFile.set(file, reader);
          this.readers.push(reader);
        }
        if (!reader.tensors.has(name)) throw new CheckpointError(`${reader.path}: index says it holds ${name}, but it does not`);
        this.where.set(name, reader);
      }
    } else if (existsSync(single)) {
      const reader = new SafetensorsReader(single);
      this.readers.push(reader);
      for (const name of reader.tensors.keys()) this.where.set(name, reader);
    } else if (existsSync(join(dir, 'pytorch_model.bin')) || existsSync(join(dir, 'pytorch_model.bin.index.json'))) {
      throw new CheckpointError(`${dir}: PyTorch .bin checkpoints are not supported yet (they arrive with [CKPT]); convert to safetensors`);
    } else {
      throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json found`);
    }
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  info(name: string): StTensorInfo {
    const r = this.where.get(name);
    if (!r) throw new CheckpointError(`${this.dir}: no tensor named ${name}`);
    return r.info(name);
  }

  readFloat32(name: string): Float32Array {
    const r = this.where.get(name);
    if (!r) throw new CheckpointError(`${this.dir}: no tensor named ${name}`);
    return r.readFloat32(name);
  }

  close(): void {
    for (const r of this.readers) r.close();
  }
}

export function loadHfSpec(dir: string): ModelSpec {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new CheckpointError(`${dir}: no config.json`);
  return loadModelSpec(path);
}

/** Checks names and shapes against the layout; lists every problem in one error. */
function checkTensors(source: HfTensorSource, layout: CheckpointLayout): void {
  const expected = new Map(layout.tensors.map((t) => [t.hfName, t]));
  const problems: string[] = [];
  for (const t of layout.tensors) {
    if (!source.names().includes(t.hfName)) {
      problems.push(`missing ${t.hfName} [${t.hfShape}]`);
      continue;
    }
    const found = source.info(t.hfName).shape;
    if (found.join(',') !== t.hfShape.join(',')) problems.push(`${t.hfName}: expected shape [${t.hfShape}], found [${found}]`);
  }
  for (const name of source.names()) {
    if (!expected.has(name) && !IGNORED_SUFFIXES.some((s) => name.endsWith(s))) problems.push(`unexpected ${name}`);
  }
  if (problems.length) {
    throw new CheckpointError(`${source.dir}: checkpoint does not match its config (${layout.name} layout): ${problems.join('; ')}`);
  }
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** Row length and row-major values of an HF tensor in canonical orientation. */
function canonicalRows(map: TensorMap, values: Float32Array): { rowLen: number; values: Float32Array } {
  if (map.hfShape.length === 1) return { rowLen: 1, values };
  const [a, b] = map.hfShape as [number, number];
  return map.transpose ? { rowLen: a, values: transpose(values, a, b) } : { rowLen: b, values };
}

/**
 * Reads every parameter of the HF directory into `params`; with `only`, just the canonical
 * parameters it accepts (a sharded engine loads one unit at a time).
 */
export function loadHfWeights(dir: string, spec: ModelSpec, params: ParamViews, only?: (canonical: string) => boolean): void {
  const source = new HfTensorSource(dir);
  try {
    const layout = checkpointLayout(spec, source.names());
    checkTensors(source, layout);
    for (const map of layout.tensors) {
      if (only && !only(map.canonical)) continue;
      const { rowLen, values } = canonicalRows(map, source.readFloat32(map.hfName));
      const target = params.tensor(map.canonical);
      for (const [hfRow, row, count] of map.rows) {
        target.view(row * rowLen, [count * rowLen]).writeFloat32(values.subarray(hfRow * rowLen, (hfRow + count) * rowLen));
      }
    }
  } finally {
    source.close();
  }
}

/** Values of one HF tensor gathered back from canonical parameters. */
export function hfTensorValues(map: TensorMap, params: ParamViews): Float32Array {
  const target = params.tensor(map.canonical);
  const rowLen = target.shape.length === 1 ? 1 : target.numel / target.shape[0]!;
  const nRows = map.hfShape.length === 1 ? map.hfShape[0]! : map.transpose ? map.hfShape[1]! : map.hfShape[0]!;
  const rowsValues = new Float32Array(nRows * rowLen);
  for (const [hfRow, row, count] of map.rows) {
    rowsValues.set(target.view(row * rowLen, [count * rowLen]).toFloat32(), hfRow * rowLen);
  }
  // canonical orientation is [out, in]; Conv1D files store [in, out]
  return map.transpose ? transpose(rowsValues, nRows, rowLen) : rowsValues;
}

/** Writes params as a single model.safetensors with the layout's HF names. */
export function writeHfWeights(path: string, layout: CheckpointLayout, params: ParamViews, dtype: FileDtype): void {
  writeSafetensors(
    path,
    layout.tensors.map((map) => ({ name: map.hfName, dtype, shape: map.hfShape, data: () => float32ToBytes(hfTensorValues(map, params), dtype) })),
    { format: 'pt' },
  );
}
