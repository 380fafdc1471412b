// The canonical parameter layout: every parameter of the model lives in one flat buffer,
// at an aligned offset recorded in a table. Gradients use a second buffer with the same
// table. Checkpoint layouts (src/model/layouts) translate Hugging Face names to these.
//
// Canonical tensors (linear weights are [out, in], as nn.Linear):
//   embed [V, H]
//   layers.{i}.ln1 [H]          layers.{i}.qkv [(nh + 2 nkv) D, H]  (Q rows, K rows, V rows)
//   layers.{i}.o [H, nh D]      layers.{i}.o_bias [H]               (when outputBiases)
//   layers.{i}.ln2 [H]          layers.{i}.gate_up [2F, H]          (gate rows, then up rows)
//   layers.{i}.down [H, F]      layers.{i}.down_bias [H]            (when outputBiases)
//   ln_f [H]                    lm_head [V, H]                      (absent when tied)
import { DType, MemCategory, Tensor, alloc, numel, type Device } from '../native/tensor.js';
import type { ModelSpec } from './spec.js';

export type ParamKind = 'embedding' | 'matrix' | 'norm' | 'bias';

export interface ParamEntry {
  name: string;
  shape: number[];
  kind: ParamKind;
  /** Offset in elements from the start of the flat buffer (multiple of ALIGN). */
  offset: number;
  numel: number;
}

/** Offsets are multiples of 32 elements: 64-byte aligned for bf16 and 128 for fp32. */
const ALIGN = 32;

/**
 * A unit is what one step of the forward pass uses (src/model/model.ts Unit): the
 * embedding, one block, or the head (ln_f and the untied LM head). Its parameters are
 * contiguous in the flat buffer; ZeRO shards each unit evenly across ranks, so a unit's
 * length is padded to a multiple of `unitMultiple`.
 */
export interface UnitRange {
  unit: 'embed' | number | 'head';
  start: number;
  /** Padded end (exclusive). */
  end: number;
}

export class ParamTable {
  readonly entries: ParamEntry[] = [];
  readonly units: UnitRange[] = [];
  private readonly byName = new Map<string, ParamEntry>();
  /** Elements in the flat buffer, including alignment padding. */
  total = 0;

  constructor(readonly unitMultiple = ALIGN) {}

  beginUnit(unit: UnitRange['unit']): void {
    this.units.push({ unit, start: this.total, end: this.total });
  }

  endUnit(): void {
    const u = this.units[this.units.length - 1]!;
    this.total = Math.ceil(this.total / this.unitMultiple) * this.unitMultiple;
    u.end = this.total;
  }

  unitRange(unit: UnitRange['unit']): UnitRange {
    const u = this.units.find((x) => x.unit === unit);
    if (!u) throw new Error(`no unit ${String(unit)}`);
    return u;
  }

  add(name: string, shape: number[], kind: ParamKind): void {
    const entry: ParamEntry = { name, shape, kind, offset: this.total, numel: numel(shape) };
    this.entries.push(entry);
    this.byName.set(name, entry);
    this.total += Math.ceil(entry.numel / ALIGN) * ALIGN;
  }

  get(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    return e;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Number of parameters (no padding). */
  get count(): number {
    return this.entries.reduce((s, e) => s + e.numel, 0);
  }
}

/**
 * The canonical table. `shards` > 1 pads every unit to a multiple of 32 * shards elements,
 * so each rank's share of a unit is a whole number of aligned elements.
 */
export function buildParamTable(spec: ModelSpec, shards = 1): ParamTable {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V } = spec;
  const t = new ParamTable(ALIGN * shards);
  t.beginUnit('embed');
  t.add('embed', [V, H], 'embedding');
  t.endUnit();
  for (let i = 0; i < spec.nLayers; i++) {
    t.beginUnit(i);
    const p = `layers.${i}.`;
    t.add(p + 'ln1', [H], 'norm');
    t.add(p + 'qkv', [(nh + 2 * nkv) * D, H], 'matrix');
    t.add(p + 'o', [H, nh * D], 'matrix');
    if (spec.outputBiases) t.add(p + 'o_bias', [H], 'bias');
    t.add(p + 'ln2', [H], 'norm');
    t.add(p + 'gate_up', [2 * F, H], 'matrix');
    t.add(p + 'down', [H, F], 'matrix');
    if (spec.outputBiases) t.add(p + 'down_bias', [H], 'bias');
    t.endUnit();
  }
  t.beginUnit('head');
  t.add('ln_f', [H], 'norm');
  if (!spec.tiedEmbeddings) t.add('lm_head', [V, H], 'matrix');
  t.endUnit();
  return t;
}

/** Views of one transformer block's tensors inside a flat buffer. */
export interface BlockTensors {
  ln1: Tensor;
  qkv: Tensor;
  o: Tensor;
  oBias: Tensor | null;
  ln2: Tensor;
  gateUp: Tensor;
  down: Tensor;
  downBias: Tensor | null;
}

/** Named views of parameters (or gradients): what the model computes with. */
export interface ParamViews {
  readonly table: ParamTable;
  tensor(name: string): Tensor;
  maybe(name: string): Tensor | null;
  block(i: number): BlockTensors;
  lmHead(): Tensor;
}

/**
 * The named views every ParamViews offers, built from one lookup: subclasses say where a
 * tensor lives (`tensor`), the block, optional-entry and LM-head views follow from it.
 */
export abstract class NamedViews implements ParamViews {
  abstract readonly table: ParamTable;
  abstract tensor(name: string): Tensor;

  maybe(name: string): Tensor | null {
    return this.table.has(name) ? this.tensor(name) : null;
  }

  block(i: number): BlockTensors {
    const p = `layers.${i}.`;
    return {
      ln1: this.tensor(p + 'ln1'),
      qkv: this.tensor(p + 'qkv'),
      o: this.tensor(p + 'o'),
      oBias: this.maybe(p + 'o_bias'),
      ln2: this.tensor(p + 'ln2'),
      gateUp: this.tensor(p + 'gate_up'),
      down: this.tensor(p + 'down'),
      downBias: this.maybe(p + 'down_bias'),
    };
  }

  /** The LM head weight: lm_head, or the word embeddings when tied. */
  lmHead(): Tensor {
    return this.maybe('lm_head') ?? this.tensor('embed');
  }
}

/** A flat buffer (parameters or gradients) with named views following a ParamTable. */
export class FlatParams extends NamedViews {
  readonly buffer: Tensor;

  constructor(
    readonly table: ParamTable,
    dtype: DType,
    category: MemCategory,
    device: Device = 'cpu',
  ) {
    super();
    this.buffer = alloc(dtype, [table.total], category, device);
  }

  get dtype(): DType {
    return this.buffer.dtype;
  }

  tensor(name: string): Tensor {
    const e = this.table.get(name);
    return this.buffer.view(e.offset, e.shape);
  }

  free(): void {
    this.buffer.free();
  }
}
