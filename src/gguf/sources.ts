// Where the GGUF exporter reads weights from, one canonical parameter (src/model/params.ts)
// at a time, so the whole model is never in memory: a Hugging Face TeleChat directory (any
// layout, safetensors or .bin), a training checkpoint's fp32 master weights (zero/, any
// world size and stage), or a LoRA checkpoint's base with its adapters merged on the way out. Both give the canonical orientation: linear weights [out, in], the
// qkv rows Q, then K, then V (key_value de-interleaved), gate rows then up rows.
import { join } from 'node:path';
import { checkpointDir } from '../checkpoint/consolidate.js';
import { openAdapter, type OpenedAdapter } from '../checkpoint/lora_merge.js';
import { canonicalRows, checkTensors, checkTiedHead, HfTensorSource, loadHfSpec } from '../checkpoint/hf.js';
import { unitList, ZeroStateReader } from '../checkpoint/zero_state.js';
import { checkpointLayout, type CheckpointLayout } from '../model/layouts/index.js';
import { mergeAdaptersInto } from '../model/lora.js';
import { buildParamTable, type ParamTable } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { unitOf } from '../zero/partition.js';

export interface CanonicalSource {
  readonly spec: ModelSpec;
  /** The HF directory with the config and tokenizer (a checkpoint's hf/). */
  readonly hfDir: string;
  /** Where the run's telechat_training.json lies when not in hfDir (a LoRA adapter dir). */
  readonly recordDir?: string;
  /** fp32 values of one canonical parameter, row-major in its canonical shape. */
  get(name: string): Float32Array;
  close(): void;
}

export class HfCanonicalSource implements CanonicalSource {
  readonly spec: ModelSpec;
  private readonly source: HfTensorSource;
  private readonly layout: CheckpointLayout;
  private readonly table: ParamTable;

  constructor(readonly hfDir: string) {
    this.spec = loadHfSpec(hfDir);
    this.source = new HfTensorSource(hfDir);
    try {
      this.layout = checkpointLayout(this.spec, this.source.names());
      checkTensors(this.source, this.layout);
      checkTiedHead(this.layout, this.source);
      this.table = buildParamTable(this.spec);
    } catch (err) {
      this.source.close();
      throw err;
    }
  }

  get(name: string): Float32Array {
    const entry = this.table.get(name);
    const out = new Float32Array(entry.numel);
    for (const map of this.layout.tensors) {
      if (map.canonical !== name) continue;
      const { rowLen, values } = canonicalRows(map, this.source.readFloat32(map.hfName));
      for (const [hfRow, row, count] of map.rows) out.set(values.subarray(hfRow * rowLen, (hfRow + count) * rowLen), row * rowLen);
    }
    return out;
  }

  close(): void {
    this.source.close();
  }
}

export class CheckpointCanonicalSource implements CanonicalSource {
  readonly spec: ModelSpec;
  readonly hfDir: string;
  private readonly state: ZeroStateReader;
  private readonly table: ParamTable;

  /** `path`: a checkpoint dir, or an output dir (its `latest` checkpoint). */
  constructor(path: string) {
    const dir = checkpointDir(path);
    this.hfDir = join(dir, 'hf');
    this.spec = loadHfSpec(this.hfDir);
    this.state = new ZeroStateReader(join(dir, 'zero'));
    try {
      this.state.checkUnits(unitList(this.spec));
      this.table = buildParamTable(this.spec, 1);
    } catch (err) {
      this.state.close();
      throw err;
    }
  }

  get(name: string): Float32Array {
    const entry = this.table.get(name);
    const unit = unitOf(this.table, name);
    return this.state.read(this.table.units.indexOf(unit), 'master', entry.offset - unit.start, entry.numel);
  }

  close(): void {
    this.state.close();
  }
}

/**
 * A LoRA checkpoint (or PEFT adapter dir) over its base (--model, else the adapter's
 * base_model_name_or_path): the base's canonical parameters with every adapter on them merged as
 * they are read, W + alpha / r * B A, in fp32: what `telechat-export --checkpoint --dtype fp32`
 * writes (the default HF export rounds them to the base's dtype).
 */
export class LoraMergedSource implements CanonicalSource {
  readonly spec: ModelSpec;
  readonly hfDir: string;
  readonly recordDir: string;
  private readonly base: HfCanonicalSource;
  private readonly adapter: OpenedAdapter;

  constructor(adapterDir: string, baseDir: string | null, warn: (message: string) => void) {
    this.adapter = openAdapter(adapterDir, baseDir, warn);
    try {
      this.base = new HfCanonicalSource(this.adapter.base);
    } catch (err) {
      this.adapter.adapters.free();
      throw err;
    }
    this.spec = this.base.spec;
    this.hfDir = this.base.hfDir;
    this.recordDir = adapterDir;
  }

  get(name: string): Float32Array {
    const values = this.base.get(name);
    const { targets, adapters, r, scale } = this.adapter;
    mergeAdaptersInto(values, name, targets, adapters, r, scale);
    return values;
  }

  close(): void {
    this.base.close();
    this.adapter.adapters.free();
  }
}
