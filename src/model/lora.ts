// LoRA adapters (PEFT's LoraLayer, tuners/lora/layer.py): a target linear y = x W^T + b gains
//   y += (alpha / r) * drop(x) A^T B^T,   A [r, in], B [out, r]
// with A kaiming-uniform (a = sqrt(5)), B zero, so step 1 is the base model. Targets are the
// checkpoint layout's HF modules (query, key_value, dense, gate_proj, up_proj, down_proj; 52B
// c_attn, c_proj, c_fc): each is a block of rows of one canonical matrix (params.ts), read off
// the layout's own row map, so fused and interleaved modules (key_value, c_attn, c_fc) take one
// adapter each, exactly as PEFT wraps them. B is kept in canonical row order (key_value's
// per-head K|V interleave undone, as for the base weight); the PEFT file stores HF order.
//
// The adapters live in their own ParamTable with the same units as the base (embedding and
// head units are empty), so ZeRO shards them like any parameters.
import type { Backend, DropoutMask } from '../native/backend.js';
import { type Arena, DType, type Tensor } from '../native/tensor.js';
import { checkpointLayout } from './layouts/index.js';
import { ParamTable, type ParamViews } from './params.js';
import type { ModelSpec } from './spec.js';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names, or dotted suffixes of module paths (PEFT's list match), or ["all-linear"]. */
  targetModules: string[];
}

/** One adapted module of one block: where its output rows sit in a canonical matrix. */
export interface LoraTarget {
  layer: number;
  /**
   * The module's path in the HF model object, e.g. "transformer.h.0.self_attention.key_value": what
   * PEFT matches target_modules against and names the adapter tensors by.
   */
  path: string;
  /** The adapted weight's tensor name in the base checkpoint (the 7B's has no "transformer." prefix). */
  weight: string;
  /** Last path component, the name target_modules matches ("key_value"). */
  module: string;
  /** Canonical matrix (params.ts) and the rows it covers, [rowStart, rowStart + out). */
  canonical: 'qkv' | 'o' | 'gate_up' | 'down';
  rowStart: number;
  out: number;
  in: number;
  /** The canonical matrix's row count (out == width: the whole matrix). */
  width: number;
  /** hfRow[i]: the HF row of canonical row rowStart + i (identity except key_value). */
  hfRow: Int32Array;
  /** GPT-2 Conv1D module (PEFT fan_in_fan_out). */
  conv1d: boolean;
  /** Index among the block's modules (keys the dropout stream). */
  index: number;
  /** Adapter table names. */
  a: string;
  b: string;
}

const CANONICAL = ['qkv', 'o', 'gate_up', 'down'] as const;

/** Every module of block `layer` that can take an adapter, in the layout's order. */
export function layoutModules(spec: ModelSpec, layer: number, hfNames?: Iterable<string>): LoraTarget[] {
  const layout = checkpointLayout(spec, hfNames);
  const prefix = `layers.${layer}.`;
  const out: LoraTarget[] = [];
  for (const m of layout.tensors) {
    const canonical = m.canonical.slice(prefix.length);
    if (!m.canonical.startsWith(prefix) || !(CANONICAL as readonly string[]).includes(canonical)) continue;
    if (!m.hfName.endsWith('.weight')) continue;
    // Every TeleChat CausalLM holds its decoder as `transformer` (base_model_prefix); the 7B
    // checkpoint was saved without that prefix, but its modules still live under it, so PEFT names
    // them transformer.h.N... there too.
    const stem = m.hfName.slice(0, -'.weight'.length);
    const path = stem.startsWith('transformer.') ? stem : `transformer.${stem}`;
    const [outDim, inDim] = m.transpose ? [m.hfShape[1]!, m.hfShape[0]!] : [m.hfShape[0]!, m.hfShape[1]!];
    const rowStart = Math.min(...m.rows.map(([, c]) => c));
    const hfRow = new Int32Array(outDim);
    for (const [h, c, n] of m.rows) for (let k = 0; k < n; k++) hfRow[c - rowStart + k] = h + k;
    const width = canonicalRows(spec, canonical as LoraTarget['canonical']);
    const module = path.slice(path.lastIndexOf('.') + 1);
    const index = out.length;
    out.push({
      layer, path, weight: m.hfName, module, canonical: canonical as LoraTarget['canonical'], rowStart, out: outDim, in: inDim, width, hfRow,
      conv1d: m.transpose, index, a: `${prefix}lora.${index}.A`, b: `${prefix}lora.${index}.B`,
    });
  }
  return out;
}

function canonicalRows(spec: ModelSpec, c: LoraTarget['canonical']): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F } = spec;
  return { qkv: (nh + 2 * nkv) * D, o: H, gate_up: 2 * F, down: H }[c];
}

/** The distinct module names target_modules may use for this layout. */
export function moduleNames(spec: ModelSpec): string[] {
  return [...new Set(layoutModules(spec, 0).map((t) => t.module))];
}

/** PEFT's match of a target_modules entry: the module's path is the entry or ends with "." + it. */
function matches(path: string, entry: string): boolean {
  return path === entry || path.endsWith(`.${entry}`);
}

/**
 * The targets of every block. A target_modules entry matches a module as PEFT's list match does:
 * its path equals the entry or ends with "." + entry, so a module name ("c_proj") takes every
 * module of that name (52B's attention and MLP c_proj) and a dotted suffix ("attn.c_proj") only
 * those under it. "all-linear" takes every block linear (PEFT leaves the LM head out). An entry
 * that matches nothing is refused, listing the layout's modules.
 */
export function loraTargets(spec: ModelSpec, cfg: Pick<LoraConfig, 'targetModules'>, hfNames?: Iterable<string>, where = 'lora.target_modules'): LoraTarget[] {
  const names0 = hfNames ? [...hfNames] : undefined;
  const all = cfg.targetModules.includes('all-linear');
  if (all && cfg.targetModules.length > 1) throw new Error(`${where}: "all-linear" stands alone, got ${JSON.stringify(cfg.targetModules)}`);
  if (cfg.targetModules.length === 0) throw new Error(`${where} is empty; name modules of the ${spec.layout} layout: ${moduleNames(spec).join(', ')} (or "all-linear")`);
  const modules: LoraTarget[] = [];
  for (let l = 0; l < spec.nLayers; l++) modules.push(...layoutModules(spec, l, names0));
  for (const n of all ? [] : cfg.targetModules) {
    if (!modules.some((t) => matches(t.path, n))) {
      throw new Error(`${where}: unknown module "${n}" for the ${spec.layout} layout; its modules are ${moduleNames(spec).join(', ')} ` +
        `(or a dotted suffix of their paths such as "${modules[0]!.path.split('.').slice(-2).join('.')}", or "all-linear")`);
    }
  }
  return modules.filter((t) => all || cfg.targetModules.some((n) => matches(t.path, n)));
}

/**
 * The entries of an adapter file's target_modules list that match no module of this layout. PEFT
 * adapts the modules a list matches and refuses it only when it matches nothing, so an adapter
 * saved from a list written for several model families (["q_proj", "query", ...]) is valid; its
 * reader drops these entries (with a warning) and lets loraTargets refuse a list that is all of them.
 */
export function unmatchedEntries(spec: ModelSpec, targetModules: readonly string[], hfNames?: Iterable<string>): string[] {
  if (targetModules.includes('all-linear')) return [];
  const names0 = hfNames ? [...hfNames] : undefined;
  const paths: string[] = [];
  for (let l = 0; l < spec.nLayers; l++) paths.push(...layoutModules(spec, l, names0).map((t) => t.path));
  const unmatched = targetModules.filter((n) => !paths.some((p) => matches(p, n)));
  return unmatched.length === targetModules.length ? [] : unmatched;
}

/** The adapter parameters: A [r, in] and B [out, r] per target, one unit per base unit. */
export function buildLoraTable(spec: ModelSpec, targets: readonly LoraTarget[], r: number, shards = 1): ParamTable {
  const t = new ParamTable(32 * shards);
  t.beginUnit('embed');
  t.endUnit();
  for (let l = 0; l < spec.nLayers; l++) {
    t.beginUnit(l);
    for (const x of targets) {
      if (x.layer !== l) continue;
      t.add(x.a, [r, x.in], 'matrix');
      t.add(x.b, [x.out, r], 'matrix');
    }
    t.endUnit();
  }
  t.beginUnit('head');
  t.endUnit();
  return t;
}

/** Scaling of the update: alpha / r (PEFT without use_rslora). */
export function loraScale(cfg: Pick<LoraConfig, 'r' | 'alpha'>): number {
  return cfg.alpha / cfg.r;
}

/**
 * Merges adapters into canonical weights: for each target, rows [rowStart, rowStart + out) of
 * its matrix += scale * B A (B in canonical row order), accumulated in float64.
 */
export function mergeInto(weight: Float32Array, inDim: number, t: LoraTarget, a: Float32Array, bCanon: Float32Array, r: number, scale: number): void {
  for (let o = 0; o < t.out; o++) {
    const row = (t.rowStart + o) * inDim;
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += bCanon[o * r + k]! * a[k * inDim + i]!;
      weight[row + i] = weight[row + i]! + scale * s;
    }
  }
}

/** The canonical parameter a target adapts ("layers.3.qkv"). */
function adaptedName(t: LoraTarget): string {
  return `layers.${t.layer}.${t.canonical}`;
}

/** `weight`, the canonical matrix `name`, with every adapter on it merged (mergeInto), in target order. */
export function mergeAdaptersInto(weight: Float32Array, name: string, targets: readonly LoraTarget[], adapters: ParamViews, r: number, scale: number): void {
  for (const t of targets) {
    if (adaptedName(t) === name) mergeInto(weight, t.in, t, adapters.tensor(t.a).toFloat32(), adapters.tensor(t.b).toFloat32(), r, scale);
  }
}

/**
 * The canonical matrices of block `layer` with every adapter on them merged, by canonical name;
 * matrices without an adapter are left out.
 */
export function mergedMatrices(targets: readonly LoraTarget[], layer: number, base: ParamViews, adapters: ParamViews, r: number, scale: number): Map<string, Float32Array> {
  const merged = new Map<string, Float32Array>();
  for (const t of targets) {
    const name = adaptedName(t);
    if (t.layer !== layer || merged.has(name)) continue;
    const weight = base.tensor(name).toFloat32();
    mergeAdaptersInto(weight, name, targets, adapters, r, scale);
    merged.set(name, weight);
  }
  return merged;
}

/** The adapters of one block, what its forward and backward need. */
export interface BlockLora {
  be: Backend;
  targets: LoraTarget[];
  params: ParamViews;
  grads: ParamViews;
  scale: number;
  /** Dropout mask on the module input (null: no dropout). */
  mask(t: LoraTarget): DropoutMask | null;
  work: LoraWork;
}

/** Scratch for one block's adapters, sized for the micro-batch. */
export interface LoraWork {
  arena: Arena;
  r: number;
  dtype: DType;
  /** Lazily allocated, by shape key. */
  cache: Map<string, Tensor>;
}

function scratch(w: LoraWork, key: string, dtype: DType, shape: number[]): Tensor {
  const k = `${key}:${shape.join('x')}`;
  let t = w.cache.get(k);
  if (!t) {
    t = w.arena.alloc(dtype, shape);
    w.cache.set(k, t);
  }
  return t;
}

/** x through the module's dropout (x itself without dropout). */
function dropped(l: BlockLora, t: LoraTarget, x: Tensor): Tensor {
  const mask = l.mask(t);
  if (!mask) return x;
  const xd = scratch(l.work, 'xd', l.work.dtype, [...x.shape]);
  l.be.dropoutBackward(xd, x, mask); // mask * x / (1 - p)
  return xd;
}

/**
 * u = scale * drop(x) A^T, [T, r]: one buffer for every target. The backward recomputes each
 * target's u from the input it reads anyway (the same kernel on the same values) instead of
 * keeping [T, r] per target from the forward.
 */
function uScratch(l: BlockLora, T: number): Tensor {
  return scratch(l.work, 'u', l.work.dtype, [T, l.work.r]);
}

/** Whether the block has an adapter on the canonical matrix (its backward then reads the input). */
export function adapts(l: BlockLora | null, canonical: LoraTarget['canonical']): boolean {
  return l !== null && l.targets.some((t) => t.canonical === canonical);
}

/** The adapters of `l` on `canonical`, in target order (none without `l`). */
function targetsOn(l: BlockLora | null, canonical: LoraTarget['canonical']): LoraTarget[] {
  return l ? l.targets.filter((t) => t.canonical === canonical) : [];
}

/**
 * Whether the targets' output windows cover all `width` columns of their matrix. Targets are
 * distinct modules of one layout, whose row blocks of a canonical matrix never overlap, so their
 * widths add up to the matrix's exactly when they cover it.
 */
function coversAllColumns(targets: readonly LoraTarget[], width: number): boolean {
  return targets.length > 0 && targets.reduce((n, t) => n + t.out, 0) === width;
}

/**
 * y [T, width] = x W^T (+ b) + scale * drop(x) A^T B^T for every adapter on `canonical`, each
 * adapter straight into its own output columns [rowStart, rowStart + out) (the Backend's
 * loraForward). In fp32, when the adapters' columns cover all of y (targets are distinct modules,
 * so their windows are disjoint), they write y first and the base product adds onto it: sgemm
 * accumulating (beta = 1) skips the pass in which it would zero y, and no adapter reads y back
 * (2-4% of the bench fp32 LoRA step, docs/lora.md). oneDNN's bf16 product pays more to read y
 * back than the adapters save, so there, and with uncovered columns, the base writes y first
 * and the adapters add to their columns. The CUDA backend takes the same order (not measured on
 * a GPU: there cuBLAS's beta = 1 reads y once where the adapter's add did).
 */
export function adaptedLinearForward(be: Backend, l: BlockLora | null, canonical: LoraTarget['canonical'], y: Tensor, x: Tensor, w: Tensor,
  b: Tensor | null): void {
  if (!l) {
    be.linearForward(y, x, w, b, false);
    return;
  }
  const targets = targetsOn(l, canonical);
  const adaptersFirst = y.dtype === DType.F32 && coversAllColumns(targets, y.shape[1]!);
  if (!adaptersFirst) be.linearForward(y, x, w, b, false);
  for (const t of targets) {
    be.loraForward(y, uScratch(l, x.shape[0]!), dropped(l, t, x), l.params.tensor(t.a), l.params.tensor(t.b), t.rowStart, l.scale,
      !adaptersFirst);
  }
  if (adaptersFirst) be.linearForward(y, x, w, b, true);
}

/**
 * Backward of the adapters of adaptedLinearForward given dy [T, width]: gB += dy_win^T u, gA += (scale dy_win B)^T drop(x),
 * dx += drop'(scale dy_win B A) (dx null: no input gradient wanted; accumulate false: the first
 * adapter writes dx instead of adding to it). dx may be x itself when one adapter sits on the
 * projection: it reads x (u, gA, the dropped input) before it writes dx; a second adapter would read
 * the first one's dx, so that is refused. u is recomputed here, as the forward made it.
 */
export function loraBackward(l: BlockLora | null, canonical: LoraTarget['canonical'], x: Tensor, dy: Tensor, dx: Tensor | null,
  accumulate: boolean): void {
  if (!l) return;
  const T = x.shape[0]!;
  const targets = targetsOn(l, canonical);
  if (dx && dx.ptr === x.ptr && targets.length > 1) {
    throw new Error(`loraBackward: dx over x with more than one adapter on ${canonical}`);
  }
  let acc = accumulate;
  for (const t of targets) {
    const A = l.params.tensor(t.a), B = l.params.tensor(t.b), u = uScratch(l, T);
    const gA = l.grads.tensor(t.a), gB = l.grads.tensor(t.b);
    const xd = dropped(l, t, x);
    l.be.loraForward(null, u, xd, A, B, t.rowStart, l.scale, false);
    const mask = l.mask(t);
    if (!mask || !dx) {
      l.be.loraBackward(dx, gA, gB, dy, xd, u, A, B, t.rowStart, l.scale, acc);
    } else {
      const dxd = scratch(l.work, 'dxd', l.work.dtype, [...x.shape]);
      l.be.loraBackward(dxd, gA, gB, dy, xd, u, A, B, t.rowStart, l.scale, false);
      if (acc) {
        l.be.dropoutBackward(dxd, dxd, mask);
        l.be.add(dx, dx, dxd);
      } else {
        l.be.dropoutBackward(dx, dxd, mask);
      }
    }
    acc = true;
  }
}

/**
 * Backward of adaptedLinearForward: dx = dy W plus the adapters' input gradients, the adapters' gA
 * and gB, and the base's dw and db when given. In fp32 the adapters go first (the first writes dx,
 * the others add) and the base's dX product adds onto dx, sparing sgemm its zeroing pass, as in
 * the forward; in bf16 the base writes dx first (oneDNN reading dx back costs more than it saves).
 * dx may be x itself (the MLP's dh over h) under a frozen base: the adapters then go first, as they
 * read x before they write dx (loraBackward) and dX alone does not read x; a trained weight's dW
 * would read x after that, so it is refused.
 */
export function adaptedLinearBackward(be: Backend, l: BlockLora | null, canonical: LoraTarget['canonical'], dx: Tensor, dw: Tensor | null,
  db: Tensor | null, dy: Tensor, x: Tensor, w: Tensor): void {
  const adapted = adapts(l, canonical);
  const overX = dx.ptr === x.ptr;
  if (adapted && dw && overX) throw new Error(`adaptedLinearBackward: dx over x with a trained ${canonical} weight and adapters on it`);
  if (adapted && (dx.dtype === DType.F32 || overX)) {
    loraBackward(l, canonical, x, dy, dx, false);
    be.linearBackward(dx, dw, db, dy, x, w, true);
  } else {
    be.linearBackward(dx, dw, db, dy, x, w, false);
    loraBackward(l, canonical, x, dy, dx, true);
  }
}
