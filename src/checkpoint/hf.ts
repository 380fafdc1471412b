// Hugging Face checkpoint directories: config.json plus model.safetensors or sharded
// model-0000N-of-0000M.safetensors with model.safetensors.index.json (or the PyTorch .bin
// equivalents, read by the safe reader in torch_bin.ts). Import reads one
// tensor at a time into the canonical flat parameters through the model's layout table;
// export is the same table run backwards.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointLayout, type CheckpointLayout, type TensorMap } from '../model/layouts/index.js';
import type { ParamViews } from '../model/params.js';
import type { Tensor } from '../native/tensor.js';
import { loadModelSpec, type ModelSpec } from '../model/spec.js';
import type { FileDtype } from './dtypes.js';
import { SafetensorsReader } from './safetensors.js';
import type { TensorFile, TensorInfo } from './tensor_file.js';
import { TorchBinReader } from './torch_bin.js';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const FLOAT_DTYPES: FileDtype[] = ['F32', 'F16', 'BF16', 'F64'];

/** Tensors that HF checkpoints may carry which are buffers, not parameters. */
const IGNORED_SUFFIXES = ['attn.masked_bias', 'attn.bias', 'rotary_emb.inv_freq'];

/** The weight formats of an HF directory, in the order HF prefers them. */
const WEIGHT_FORMATS = [
  { format: 'safetensors', index: 'model.safetensors.index.json', single: 'model.safetensors', open: (p: string): TensorFile => new SafetensorsReader(p) },
  { format: 'bin', index: 'pytorch_model.bin.index.json', single: 'pytorch_model.bin', open: (p: string): TensorFile => new TorchBinReader(p) },
] as const;

export type WeightFormat = (typeof WEIGHT_FORMATS)[number]['format'];

/**
 * All tensors of an HF directory, by name, across shards: model.safetensors, sharded
 * safetensors with model.safetensors.index.json, pytorch_model.bin, or sharded .bin with
 * pytorch_model.bin.index.json (whose shards TeleChat v1 names pytorch_model_000NN-of-000MM.bin).
 */
export class HfTensorSource {
  readonly format: WeightFormat;
  /** Where the weights were found: the index file, or the single weights file. */
  readonly weightsFile: string;
  private readonly readers: TensorFile[] = [];
  private readonly where = new Map<string, TensorFile>();

  constructor(readonly dir: string) {
    const found = WEIGHT_FORMATS.find((f) => existsSync(join(dir, f.index)) || existsSync(join(dir, f.single)));
    if (!found) {
      throw new CheckpointError(`${dir}: no weights found (model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json)`);
    }
    this.format = found.format;
    const index = join(dir, found.index);
    try {
      if (existsSync(index)) {
        this.weightsFile = index;
        this.openIndex(index, found.open);
      } else {
        this.weightsFile = join(dir, found.single);
        const reader = found.open(this.weightsFile);
        this.readers.push(reader);
        for (const name of reader.tensors.keys()) this.where.set(name, reader);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private openIndex(index: string, open: (path: string) => TensorFile): void {
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (err) {
      throw new CheckpointError(`${index}: cannot read index: ${(err as Error).message}`);
    }
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) throw new CheckpointError(`${index}: missing object "weight_map"`);
    const byFile = new Map<string, TensorFile>();
    for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) throw new CheckpointError(`${index}: weight_map entry ${name} is not a file name in the directory: ${JSON.stringify(file)}`);
      let reader = byFile.get(file);
      if (!reader) {
        const path = join(this.dir, file);
        if (!existsSync(path)) throw new CheckpointError(`${index}: shard ${file} (holding ${name}) does not exist`);
        reader = open(path);
        byFile.set(file, reader);
        this.readers.push(reader);
      }
      if (!reader.tensors.has(name)) throw new CheckpointError(`${reader.path}: index says it holds ${name}, but it does not`);
      this.where.set(name, reader);
    }
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  private file(name: string): TensorFile {
    const r = this.where.get(name);
    if (!r) throw new CheckpointError(`${this.dir}: no tensor named ${name}`);
    return r;
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  /** Row-major little-endian bytes in the file's own dtype. */
  readBytes(name: string): Uint8Array {
    return this.file(name).readBytes(name);
  }

  readFloat32(name: string): Float32Array {
    return this.file(name).readFloat32(name);
  }

  close(): void {
    for (const r of this.readers.splice(0)) r.close();
  }
}

/** The files one of which an HF dir with weights holds. */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

/** Whether an HF directory holds weights (safetensors or .bin, single or sharded). */
export function hasWeights(dir: string): boolean {
  return WEIGHT_FILES.some((f) => existsSync(join(dir, f)));
}

export function loadHfSpec(dir: string): ModelSpec {
  const path = join(dir, 'config.json');
  if (!existsSync(dir)) throw new CheckpointError(`${dir}: no such directory`);
  if (!existsSync(path)) throw new CheckpointError(`${dir}: no config.json${notAModelDir(dir)}`);
  return loadModelSpec(path);
}

/**
 * What a dir without config.json that telechat-train or PEFT wrote is, and where its model is
 * ('' for any other dir): given where a model dir was wanted, the error can point at it.
 */
export function notAModelDir(dir: string): string {
  if (existsSync(join(dir, 'adapter_config.json'))) return ': it is a PEFT adapter dir, not a model (a LoRA adapter merges into its base: telechat-export --checkpoint; training starts from it as lora.init_adapter)';
  if (existsSync(join(dir, 'trainer_state.json'))) {
    const inner = existsSync(join(dir, 'adapter')) ? 'adapter' : 'hf';
    return `: it is a telechat-train checkpoint, whose ${inner === 'hf' ? 'model' : 'LoRA adapter'} is ${join(dir, inner)}`;
  }
  if (existsSync(join(dir, 'latest')) || existsSync(join(dir, 'metrics.jsonl'))) {
    return `: it is a telechat-train output dir, whose final model is ${join(dir, 'final')}${existsSync(join(dir, 'final')) ? '' : ' (not written yet: its checkpoints are checkpoint-N/)'}`;
  }
  return '';
}

/** Buffers, not parameters, that HF checkpoints may carry: skipped on import, copied on export. */
export function isIgnoredBuffer(name: string): boolean {
  return IGNORED_SUFFIXES.some((s) => name.endsWith(s));
}

/** The head's name in every layout; absent from the layout when the embeddings are tied. */
const HEAD_NAME = 'lm_head.weight';

/**
 * A tied model's checkpoint may still store the head: torch.save of a state dict keeps both
 * names of a shared tensor, so .bin files of tied models often carry lm_head.weight as a copy
 * of the word embeddings. Returns that pair when the source has it.
 */
export function tiedHeadCopy(layout: CheckpointLayout, source: HfTensorSource): { name: string; of: string } | null {
  if (layout.tensors.some((t) => t.hfName === HEAD_NAME) || !source.has(HEAD_NAME)) return null;
  const embed = layout.tensors.find((t) => t.canonical === 'embed');
  return embed ? { name: HEAD_NAME, of: embed.hfName } : null;
}

/** Checks names and shapes against the layout; lists every problem in one error. */
export function checkTensors(source: HfTensorSource, layout: CheckpointLayout): void {
  const expected = new Map(layout.tensors.map((t) => [t.hfName, t]));
  const problems: string[] = [];
  const tied = tiedHeadCopy(layout, source);
  if (tied) {
    expected.set(tied.name, expected.get(tied.of)!);
    const [found, want] = [source.info(tied.name).shape, expected.get(tied.of)!.hfShape];
    if (found.join(',') !== want.join(',')) problems.push(`${tied.name} (a copy of ${tied.of}, embeddings are tied): expected shape [${want}], found [${found}]`);
  }
  for (const t of layout.tensors) {
    if (!source.has(t.hfName)) {
      problems.push(`missing ${t.hfName} (expected shape [${t.hfShape}])`);
      continue;
    }
    const { shape: found, dtype } = source.info(t.hfName);
    if (found.join(',') !== t.hfShape.join(',')) problems.push(`${t.hfName}: expected shape [${t.hfShape}], found [${found}]`);
    if (!FLOAT_DTYPES.includes(dtype)) problems.push(`${t.hfName}: dtype ${dtype} is not floating point`);
  }
  for (const name of source.names()) {
    if (!expected.has(name) && !isIgnoredBuffer(name)) problems.push(`unexpected ${name} (shape [${source.info(name).shape}])`);
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
export function canonicalRows(map: TensorMap, values: Float32Array): { rowLen: number; values: Float32Array } {
  if (map.hfShape.length === 1) return { rowLen: 1, values };
  const [a, b] = map.hfShape as [number, number];
  return map.transpose ? { rowLen: a, values: transpose(values, a, b) } : { rowLen: b, values };
}

/**
 * A tied model that still stores its LM head must store the embeddings there: HF would silently
 * replace it by the embeddings, so a real difference means a wrong config.
 */
export function checkTiedHead(layout: CheckpointLayout, source: HfTensorSource): void {
  const tied = tiedHeadCopy(layout, source);
  // views over the two tensors' bytes, not copies: only the two reads are in memory
  const view = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  if (tied && !view(source.readBytes(tied.name)).equals(view(source.readBytes(tied.of)))) {
    throw new CheckpointError(`${source.weightsFile}: ${tied.name} differs from ${tied.of} although the config ties them (tie_word_embeddings)`);
  }
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
    checkTiedHead(layout, source);
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
  return hfTensorFromCanonical(map, params.tensor(map.canonical));
}

/**
 * Values of one HF tensor from its canonical tensor `target` (map.canonical), wherever that
 * lives: e.g. a block gathered on its own under ZeRO-3, feeding HfExportWriter.write.
 */
export function hfTensorFromCanonical(map: TensorMap, target: Tensor): Float32Array {
  const rowLen = target.shape.length === 1 ? 1 : target.numel / target.shape[0]!;
  const nRows = map.hfShape.length === 1 ? map.hfShape[0]! : map.transpose ? map.hfShape[1]! : map.hfShape[0]!;
  const rowsValues = new Float32Array(nRows * rowLen);
  for (const [hfRow, row, count] of map.rows) {
    rowsValues.set(target.view(row * rowLen, [count * rowLen]).toFloat32(), hfRow * rowLen);
  }
  // canonical orientation is [out, in]; Conv1D files store [in, out]
  return map.transpose ? transpose(rowsValues, nRows, rowLen) : rowsValues;
}

