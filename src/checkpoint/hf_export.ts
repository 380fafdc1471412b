// Hugging Face export: writes an HF directory that keeps a base checkpoint's tensor names,
// shapes and (by default) dtypes, as safetensors (a single model.safetensors, or
// model-0000N-of-0000M.safetensors + model.safetensors.index.json past the shard size), with
// the base's config.json (torch_dtype updated), generation config, tokenizer files and `*.py`
// remote code. The base may hold safetensors or .bin weights; the export is always safetensors.
//
// Tensors stream in: HfExportWriter takes one HF tensor at a time in the layout's order
// (embedding, then block by block, then the final norm and head), so a caller under ZeRO-3
// can gather one block, write its tensors and drop it. Everything is written into a temporary
// sibling directory, fsynced, and renamed onto the output at the end: a crash leaves either the
// old output or none, never a half-written one (and Ctrl-C no temporary: interrupt.ts).
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkpointLayout, type CheckpointLayout } from '../model/layouts/index.js';
import type { ParamViews } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { f16OverflowMessage, firstF16Overflow } from '../native/half.js';
import { bytesToFloat32, float32ToBytes, type FileDtype } from './dtypes.js';
import { registerTemporary, releaseTemporary } from './interrupt.js';
import { cannotWriteOutput, temporaryBeside } from './temporaries.js';
import { outputDirProblem } from './output_path.js';
import { CheckpointError, checkTensors, hasWeights, HfTensorSource, hfTensorValues, isIgnoredBuffer, tiedHeadCopy } from './hf.js';
import { SafetensorsReader, SafetensorsStreamWriter, tensorBytes, type StTensorSpec } from './safetensors.js';
import { keepsBaseTemplate, tokenizerConfigWithTemplate, TRAINING_RECORD_FILE, trainingRecordJson, type TrainingRecord } from './training_record.js';

export type ExportDtype = 'fp32' | 'fp16' | 'bf16';

const EXPORT_DTYPES: Record<ExportDtype, FileDtype> = { fp32: 'F32', fp16: 'F16', bf16: 'BF16' };
const TORCH_DTYPE_NAMES: Partial<Record<FileDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

/** HF's default max_shard_size "5GB" (decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Files carried over from the base directory besides the weights and config.json (TeleChat v1's
 * release ships its special-tokens map misspelt as specail_tokens_map.json: carried as it is).
 */
const CARRIED_FILE = /^(generation_config\.json|telechat_training\.json|special_tokens_map\.json|specail_tokens_map\.json|added_tokens\.json|tokenizer.*|vocab\..*|merges\.txt|chat_template\..*|.*\.tiktoken|.*\.py|README\.md|LICENSE.*|NOTICE.*)$/;

export interface HfExportOptions {
  /** Dtype of the parameters; by default each tensor keeps the base checkpoint's dtype. */
  dtype?: ExportDtype;
  /** Largest shard in bytes (default 5 GB); one tensor larger than this gets a shard alone. */
  maxShardBytes?: number;
  /** Replace an existing output directory (it is swapped out only once the new one is complete). */
  overwrite?: boolean;
  /**
   * A training run's template and length (training_record.ts): written as telechat_training.json and
   * as tokenizer_config.json's chat_template, in place of the base's. Without it the base's are carried.
   */
  trained?: TrainingRecord;
}

interface PlannedTensor extends StTensorSpec {
  shard: number;
  /**
   * param: fed through `write`; tied: lm_head.weight of a tied base that stored it, a copy of
   * the embeddings (`of`) as written; buffer: a base non-parameter copied byte for byte.
   */
  kind: 'param' | 'tied' | 'buffer';
  of?: string;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function shardName(i: number, n: number): string {
  return n === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

export class HfExportWriter {
  /** The parameter tensors `write` expects, in order. */
  readonly layout: CheckpointLayout;
  /** The base's weights; null for a base without weights (a config for random init). */
  private readonly base: HfTensorSource | null;
  private readonly plan: PlannedTensor[] = [];
  private readonly nShards: number;
  private readonly tmpDir: string;
  private readonly outDir: string;
  private shard: SafetensorsStreamWriter | null = null;
  private shardIndex = -1;
  private next = 0;
  private done = false;

  constructor(
    readonly baseDir: string,
    outDir: string,
    spec: ModelSpec,
    private readonly options: HfExportOptions = {},
  ) {
    this.outDir = resolve(outDir);
    if (resolve(baseDir) === this.outDir) throw new CheckpointError(`${outDir}: the export cannot overwrite its own base directory`);
    // absent or (with overwrite) a dir to replace; a file there or where a parent should be is refused, never replaced
    const problem = outputDirProblem(this.outDir, options.overwrite ?? false);
    if (problem !== null) throw new CheckpointError(`${outDir}: ${problem}`);
    const maxShard = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
    if (!(maxShard > 0)) throw new CheckpointError(`max shard size must be positive, got ${maxShard}`);
    const base = hasWeights(baseDir) ? new HfTensorSource(baseDir) : null;
    this.base = base;
    try {
      const out = options.dtype ? EXPORT_DTYPES[options.dtype] : null;
      if (!base && !out) throw new CheckpointError(`${baseDir} holds no weights to take dtypes from: the export needs a dtype`);
      this.layout = checkpointLayout(spec, base?.names());
      if (base) checkTensors(base, this.layout);
      const params = new Set(this.layout.tensors.map((t) => t.hfName));
      for (const t of this.layout.tensors) this.plan.push({ name: t.hfName, shape: t.hfShape, dtype: out ?? base!.info(t.hfName).dtype, shard: 0, kind: 'param' });
      const tied = base ? tiedHeadCopy(this.layout, base) : null;
      if (tied) {
        const embed = this.plan.find((t) => t.name === tied.of)!;
        this.plan.push({ name: tied.name, shape: embed.shape, dtype: embed.dtype, shard: 0, kind: 'tied', of: tied.of });
      }
      for (const name of base?.names() ?? []) {
        if (!params.has(name) && isIgnoredBuffer(name)) this.plan.push({ name, shape: base!.info(name).shape, dtype: base!.info(name).dtype, shard: 0, kind: 'buffer' });
      }
      // HF's rule: start a new shard when the next tensor would push this one past the limit
      let shard = 0;
      let size = 0;
      for (const t of this.plan) {
        const bytes = tensorBytes(t);
        if (size > 0 && size + bytes > maxShard) {
          shard++;
          size = 0;
        }
        t.shard = shard;
        size += bytes;
      }
      this.nShards = shard + 1;
      this.tmpDir = temporaryBeside(this.outDir);
      rmSync(this.tmpDir, { recursive: true, force: true });
      try {
        mkdirSync(this.tmpDir, { recursive: true });
      } catch (err) {
        throw new CheckpointError(cannotWriteOutput(this.outDir, 'HF directory', err));
      }
      registerTemporary(this.tmpDir);
    } catch (err) {
      this.base?.close();
      throw err;
    }
  }

  /** Name of the next parameter tensor `write` expects, or null when all are written. */
  get nextName(): string | null {
    const t = this.plan[this.next];
    return t && t.kind === 'param' ? t.name : null;
  }

  /** The next parameter tensor's values (fp32, HF orientation and shape). */
  write(name: string, values: Float32Array): void {
    const t = this.plan[this.next];
    if (!t || t.kind !== 'param' || t.name !== name) throw new CheckpointError(`HF export to ${this.outDir}: expected tensor ${this.nextName ?? '(none: all written)'} next, got ${name}`);
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (values.length !== n) throw new CheckpointError(`HF export: tensor ${name} has ${values.length} values, expected ${n} for shape [${t.shape}]`);
    const bytes = float32ToBytes(values, t.dtype);
    if (t.dtype === 'F16') {
      const i = firstF16Overflow(values, new Uint16Array(bytes.buffer, bytes.byteOffset, values.length));
      if (i >= 0) throw new CheckpointError(`HF export: ${f16OverflowMessage(name, values[i]!, i)}`);
    }
    this.put(t, bytes);
  }

  /**
   * The next parameter tensor as stored bytes of `dtype` (HF orientation and shape): copied as
   * they are when the export keeps that dtype, else converted through fp32 (round to nearest even).
   */
  writeBytes(name: string, bytes: Uint8Array, dtype: FileDtype): void {
    const t = this.plan[this.next];
    if (!t || t.kind !== 'param' || t.name !== name) throw new CheckpointError(`HF export to ${this.outDir}: expected tensor ${this.nextName ?? '(none: all written)'} next, got ${name}`);
    if (dtype !== t.dtype) {
      this.write(name, bytesToFloat32(bytes, dtype));
      return;
    }
    if (bytes.byteLength !== tensorBytes(t)) throw new CheckpointError(`HF export: tensor ${name} has ${bytes.byteLength} bytes, expected ${tensorBytes(t)} for ${t.dtype} shape [${t.shape}]`);
    this.put(t, bytes);
  }

  private put(t: PlannedTensor, bytes: Uint8Array): void {
    if (t.shard !== this.shardIndex) {
      this.shard?.close();
      this.shardIndex = t.shard;
      const specs = this.plan.filter((p) => p.shard === t.shard).map(({ name, dtype, shape }) => ({ name, dtype, shape }));
      this.shard = new SafetensorsStreamWriter(join(this.tmpDir, shardName(t.shard, this.nShards)), specs, { format: 'pt' });
    }
    this.shard!.write(t.name, bytes);
    this.next++;
  }

  /**
   * After the last parameter: copies the base's buffers, writes the index, config and
   * carried files, fsyncs everything and renames the directory into place.
   */
  finish(): string[] {
    if (this.done) throw new CheckpointError(`HF export to ${this.outDir}: already finished`);
    try {
      if (this.nextName !== null) throw new CheckpointError(`HF export to ${this.outDir}: finished before tensor ${this.nextName} was written`);
      while (this.next < this.plan.length) {
        const t = this.plan[this.next]!;
        this.put(t, t.kind === 'tied' ? this.readWritten(t.of!) : this.base!.readBytes(t.name));
      }
      this.shard?.close();
      const written: string[] = [];
      for (let i = 0; i < this.nShards; i++) written.push(shardName(i, this.nShards));
      if (this.nShards > 1) {
        const weightMap: Record<string, string> = {};
        for (const t of this.plan) weightMap[t.name] = shardName(t.shard, this.nShards);
        const totalSize = this.plan.reduce((a, t) => a + tensorBytes(t), 0);
        this.writeJson('model.safetensors.index.json', { metadata: { total_size: totalSize }, weight_map: weightMap });
        written.push('model.safetensors.index.json');
      }
      this.writeConfig();
      written.push('config.json');
      const trained = this.options.trained;
      // a template other than the base's replaces the base's, also a chat_template.jinja / .json
      // (which newer transformers read before tokenizer_config.json's key); the base's own stays
      const ownTemplate = trained !== undefined && keepsBaseTemplate(this.baseDir, trained.chat_template);
      const replaced = (file: string): boolean => trained !== undefined && (file === TRAINING_RECORD_FILE ||
        (!ownTemplate && (file === 'tokenizer_config.json' || /^chat_template\./.test(file))));
      for (const file of readdirSync(this.baseDir).sort()) {
        const src = join(this.baseDir, file);
        if (file === 'config.json' || replaced(file) || !CARRIED_FILE.test(file) || !statSync(src).isFile()) continue;
        copyFileSync(src, join(this.tmpDir, file));
        fsyncPath(join(this.tmpDir, file));
        written.push(file);
      }
      if (trained) {
        if (!ownTemplate) {
          this.writeText('tokenizer_config.json', tokenizerConfigWithTemplate(this.baseDir, trained.chat_template));
          written.push('tokenizer_config.json');
        }
        this.writeText(TRAINING_RECORD_FILE, trainingRecordJson(trained));
        written.push(TRAINING_RECORD_FILE);
      }
      fsyncPath(this.tmpDir);
      this.moveIntoPlace();
      releaseTemporary(this.tmpDir);
      this.done = true;
      return written;
    } catch (err) {
      this.abort();
      throw err;
    } finally {
      this.base?.close();
    }
  }

  /** Bytes of a tensor this export already wrote (from the open shard or a finished one). */
  private readWritten(name: string): Uint8Array {
    const shard = this.plan.find((t) => t.name === name)!.shard;
    if (shard === this.shardIndex) return this.shard!.readBack(name);
    const r = new SafetensorsReader(join(this.tmpDir, shardName(shard, this.nShards)));
    try {
      return r.readBytes(name);
    } finally {
      r.close();
    }
  }

  /** Discards the partial output. */
  abort(): void {
    this.shard?.abort();
    this.shard = null;
    this.base?.close();
    rmSync(this.tmpDir, { recursive: true, force: true });
    releaseTemporary(this.tmpDir);
    this.done = true;
  }

  private writeJson(file: string, value: unknown): void {
    this.writeText(file, JSON.stringify(value, null, 2) + '\n');
  }

  private writeText(file: string, text: string): void {
    writeFileSync(join(this.tmpDir, file), text);
    fsyncPath(join(this.tmpDir, file));
  }

  /**
   * The base's config.json with torch_dtype set to the parameters' dtype, when they share one (they
   * do in every TeleChat release). The text is edited, not re-serialised, so every other value keeps
   * its spelling (`4.0` stays a float to Python, `1e-05` stays as written).
   */
  private writeConfig(): void {
    const path = join(this.baseDir, 'config.json');
    let text: string;
    let config: Record<string, unknown>;
    try {
      text = readFileSync(path, 'utf8');
      config = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new CheckpointError(`${path}: cannot read: ${(err as Error).message}`);
    }
    const dtypes = new Set(this.plan.filter((t) => t.kind === 'param').map((t) => t.dtype));
    const name = dtypes.size === 1 ? TORCH_DTYPE_NAMES[[...dtypes][0]!] : undefined;
    if (name && config['torch_dtype'] !== name) {
      const entry = /("torch_dtype"\s*:\s*)(null|"[^"]*")/;
      const edited = entry.test(text) ? text.replace(entry, `$1${JSON.stringify(name)}`) : text.replace('{', `{\n  "torch_dtype": ${JSON.stringify(name)},`);
      // the edit must give exactly the config with the new dtype (else, say a nested torch_dtype
      // came first, the whole file is written out again)
      const want: Record<string, unknown> = { ...config, torch_dtype: name };
      const ok = ((): boolean => {
        try {
          const got = JSON.parse(edited) as Record<string, unknown>;
          const keys = Object.keys(want);
          return Object.keys(got).length === keys.length && keys.every((k) => JSON.stringify(got[k]) === JSON.stringify(want[k]));
        } catch {
          return false;
        }
      })();
      text = ok ? edited : JSON.stringify(want, null, 2) + '\n';
    }
    writeFileSync(join(this.tmpDir, 'config.json'), text);
    fsyncPath(join(this.tmpDir, 'config.json'));
  }

  private moveIntoPlace(): void {
    const parent = dirname(this.outDir);
    if (existsSync(this.outDir)) {
      if (!this.options.overwrite) throw new CheckpointError(`${this.outDir}: output directory appeared during the export`);
      if (!statSync(this.outDir).isDirectory()) throw new CheckpointError(`${this.outDir}: a file appeared at the output path during the export (not replaced)`);
      const old = temporaryBeside(this.outDir, 'old');
      rmSync(old, { recursive: true, force: true });
      renameSync(this.outDir, old);
      renameSync(this.tmpDir, this.outDir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(this.tmpDir, this.outDir);
    }
    fsyncPath(parent);
  }
}


/**
 * Exports canonical parameters as an HF directory shaped like `baseDir` (see HfExportWriter).
 * Returns the files written.
 */
export function exportHf(params: ParamViews, spec: ModelSpec, baseDir: string, outDir: string, options: HfExportOptions = {}): string[] {
  const w = new HfExportWriter(baseDir, outDir, spec, options);
  try {
    for (const map of w.layout.tensors) w.write(map.hfName, hfTensorValues(map, params));
  } catch (err) {
    w.abort();
    throw err;
  }
  return w.finish();
}

/**
 * Whether an export from an HF directory reads the entry `name` in it: config.json, the weights
 * (safetensors or .bin, single or sharded, and their index) and the files it carries over.
 */
export function readsFromHfDir(name: string): boolean {
  return name === 'config.json' || CARRIED_FILE.test(name) || /\.(safetensors|bin)$/.test(name) || /\.index\.json$/.test(name);
}
