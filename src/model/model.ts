// The TeleChat model: canonical parameters, activation memory, and the full forward and
// backward pass over a Backend. The math knows nothing of sharding; zero/ wraps it.
import type { AttentionShape, Backend } from '../native/backend.js';
import { Arena, DType, MemCategory, type Tensor, fromFloat32 } from '../native/tensor.js';
import { type ActivationSet, allocActivations, attentionGrads, lseOf } from './activations.js';
import { type HostBatch, type Row, buildHostBatch, uploadBatch, type DeviceBatch } from './batch.js';
import { type BlockContext, type BlockDropout, type BlockTemps, blockBackward, blockForward } from './block.js';
import { BatchDropout } from './dropout.js';
import type { BlockLora, LoraTarget, LoraWork } from './lora.js';
import { FlatParams, type ParamTable, type ParamViews, buildParamTable } from './params.js';
import { ropeParams, ropeTables, type RopeParams } from './rope.js';
import type { ModelSpec } from './spec.js';

export interface ModelOptions {
  /** Storage dtype of parameters and activations. */
  dtype: DType;
  /** Storage dtype of parameter gradients (accumulators). */
  gradDtype: DType;
  /** Most tokens in one micro-batch (activation capacity). */
  maxTokens: number;
  /** Longest row the data may hold; also sets the rotary NTK rule (see rope.ts). */
  maxSeqLen: number;
  /** Recompute each block's activations in backward (gradient checkpointing). */
  recompute: boolean;
  /**
   * Most rows of the LM head computed at once, so [tokens, vocab] logits never exist whole
   * (fewer where the chunk fits the shared phase buffer: activations.ts phaseLayout).
   */
  logitsChunk?: number;
  /**
   * Residual dropout probability in training (forwardBackward only; forward() never drops).
   * Default 0: the plain residual adds, bit for bit. Batches then need HostBatch.origin.
   */
  hiddenDropout?: number;
  /** Seed of the dropout masks (the run's training.seed). */
  dropoutSeed?: number;
  /** LoRA: adapters on these targets over a frozen base (storage must hold the adapters). */
  lora?: ModelLora;
}

export interface ModelLora {
  targets: LoraTarget[];
  r: number;
  /** alpha / r. */
  scale: number;
  /** Dropout on each adapter's input (training only). */
  dropout: number;
}

/**
 * A unit is the set of parameters one step of the forward pass uses: the embedding, one
 * block, or the head (ln_f and the LM head, which is the embedding when tied). Engines get
 * a call around each unit, in execution order, to gather, release and reduce (zero/).
 */
export type Unit = 'embed' | number | 'head';

export interface ModelHooks {
  beforeForward?(unit: Unit): void;
  afterForward?(unit: Unit): void;
  beforeBackward?(unit: Unit): void;
  afterBackward?(unit: Unit): void;
}

export interface LossResult {
  /** Sum of token cross-entropies over label tokens. */
  lossSum: number;
  /** Number of label tokens. */
  count: number;
}

export const DEFAULT_LOGITS_CHUNK = 1024;

/**
 * Where parameters and gradients live. By default the model allocates both densely
 * (FlatParams); ZeRO engines pass views that they gather and reduce unit by unit.
 */
export interface ModelStorage {
  params: ParamViews;
  /** null: the base is frozen (LoRA) and gets no gradients. */
  grads: ParamViews | null;
  /** The LoRA adapters and their gradients (lora.ts buildLoraTable). */
  lora?: { params: ParamViews; grads: ParamViews };
}

export class TelechatModel {
  readonly table: ParamTable;
  readonly params: ParamViews;
  /** The base's gradients; null when it is frozen (LoRA). */
  readonly grads: ParamViews | null;
  readonly lora: { params: ParamViews; grads: ParamViews } | null;
  /** The dense buffers when the model allocated them itself. */
  private readonly dense: { params: FlatParams; grads: FlatParams } | null;
  readonly rope: RopeParams;
  private readonly acts: ActivationSet;
  private readonly cos: Tensor;
  private readonly sin: Tensor;
  private readonly attn: AttentionShape;
  private readonly logitsChunk: number;

  constructor(
    readonly spec: ModelSpec,
    readonly be: Backend,
    readonly opts: ModelOptions,
    storage?: ModelStorage,
  ) {
    if (storage) {
      this.table = storage.params.table;
      this.params = storage.params;
      this.grads = storage.grads;
      this.lora = storage.lora ?? null;
      this.dense = null;
    } else {
      this.lora = null;
      this.table = buildParamTable(spec);
      const params = new FlatParams(this.table, opts.dtype, MemCategory.Params, be.device);
      const grads = new FlatParams(this.table, opts.gradDtype, MemCategory.Grads, be.device);
      this.dense = { params, grads };
      this.params = params;
      this.grads = grads;
    }
    if (opts.lora && !this.lora) throw new Error('LoRA options need adapter storage (the ZeRO engine provides it)');
    if (!this.grads && !opts.lora) throw new Error('a model without base gradients must be a LoRA model');
    // block.ts lets the down projection's adapters write dh over h first, which a base dW would still read
    if (this.grads && opts.lora) throw new Error('a LoRA model has a frozen base: no base gradients');
    this.acts = allocActivations(spec, opts.dtype, opts.maxTokens, opts.logitsChunk ?? DEFAULT_LOGITS_CHUNK, opts.recompute, be.device);
    // the head's chunk as allocated: at most the option, fewer where it fits the phase buffer
    this.logitsChunk = this.acts.work.logits.shape[0]!;
    this.rope = ropeParams(spec.rope, spec.headDim, opts.maxSeqLen);
    const tables = ropeTables(this.rope, spec.headDim, opts.maxSeqLen);
    this.cos = fromFloat32(tables.cos, DType.F32, [opts.maxSeqLen, spec.headDim / 2], MemCategory.Buffers, be.device);
    this.sin = fromFloat32(tables.sin, DType.F32, [opts.maxSeqLen, spec.headDim / 2], MemCategory.Buffers, be.device);
    this.attn = { nHeads: spec.nHeads, nKvHeads: spec.nKvHeads, headDim: spec.headDim, scale: 1 / Math.sqrt(spec.headDim) };
  }

  /** The model's own dense parameter buffer (throws when an engine supplied the storage). */
  denseParams(): FlatParams {
    if (!this.dense) throw new Error('parameters are held by the engine, not the model');
    return this.dense.params;
  }

  denseGrads(): FlatParams {
    if (!this.dense) throw new Error('gradients are held by the engine, not the model');
    return this.dense.grads;
  }

  /** Clears the dense gradient buffer (engines with their own storage clear theirs). */
  zeroGrads(): void {
    this.be.zero(this.denseGrads().buffer);
  }

  /**
   * Forward and backward on one micro-batch. Gradients of gradScale * lossSum are ACCUMULATED
   * into this.grads (call zeroGrads between optimizer steps). gradScale defaults to
   * 1 / label tokens, i.e. the gradient of the mean loss of this micro-batch.
   */
  forwardBackward(batch: readonly Row[] | HostBatch, gradScale?: number, hooks: ModelHooks = {}): LossResult {
    const host = Array.isArray(batch) ? buildHostBatch(batch as readonly Row[]) : (batch as HostBatch);
    const arena = new Arena(MemCategory.Buffers, this.be.device);
    try {
      const dev = this.upload(host, arena);
      const scale = gradScale ?? (host.labelCount > 0 ? 1 / host.labelCount : 0);
      const p = this.opts.hiddenDropout ?? 0;
      const dropout = p > 0 ? BatchDropout.forBatch(host, p, this.opts.dropoutSeed ?? 0, arena) : null;
      const lora = this.loraRun(host, arena, true);
      this.forwardBlocks(dev, hooks, dropout, lora);
      // the head's forward and backward run fused: no afterForward('head') in training
      hooks.beforeForward?.('head');
      hooks.beforeBackward?.('head');
      const loss = this.headForwardBackward(dev, scale, arena, lora?.normScratch ?? null);
      hooks.afterBackward?.('head');
      this.backwardBlocks(dev, hooks, dropout, lora);
      return loss;
    } finally {
      arena.freeAll();
    }
  }

  /** Forward only: loss, and (when asked) the logits of every token [T, V] after the logit scale. */
  forward(batch: readonly Row[] | HostBatch, returnLogits = false, hooks: ModelHooks = {}): LossResult & { logits?: Float32Array } {
    const host = Array.isArray(batch) ? buildHostBatch(batch as readonly Row[]) : (batch as HostBatch);
    const arena = new Arena(MemCategory.Buffers, this.be.device);
    try {
      const dev = this.upload(host, arena);
      this.forwardBlocks(dev, hooks, null, this.loraRun(host, arena, false));
      hooks.beforeForward?.('head');
      const out = this.headForward(dev, returnLogits);
      hooks.afterForward?.('head');
      return out;
    } finally {
      arena.freeAll();
    }
  }

  /**
   * Evaluation: the summed loss only. Forward into the activation buffers training already
   * holds (nothing is kept for a backward, no gradient is touched), no dropout, and only the
   * rows whose target carries loss go through the LM head, as in training.
   */
  forwardLoss(batch: HostBatch, hooks: ModelHooks = {}): LossResult {
    const arena = new Arena(MemCategory.Buffers, this.be.device);
    try {
      const dev = this.upload(batch, arena);
      this.forwardBlocks(dev, hooks, null, this.loraRun(batch, arena, false)); // a LoRA run's adapters too
      hooks.beforeForward?.('head');
      const { selected, targets } = this.normLabelRows(dev, arena, false);
      const loss = this.headLoss(this.acts.work.headIn, selected, targets);
      hooks.afterForward?.('head');
      return loss;
    } finally {
      arena.freeAll();
    }
  }

  /**
   * ln_f on the rows whose target carries loss (contiguous runs), written packed into headIn, and
   * their targets. A row's norm does not depend on the others, so these are the values a norm of
   * all T rows would give. For a backward (`training`) the other rows' 1/rms in rstdf is 0: ln_f's
   * backward over all T rows then gives them, and ln_f's weight, exactly nothing from them.
   */
  private normLabelRows(dev: DeviceBatch, arena: Arena, training: boolean): { runs: Array<[number, number]>; selected: number; targets: Tensor } {
    const w = this.acts.work;
    const T = dev.host.tokens;
    const x = this.acts.resid[this.spec.nLayers]!;
    const runs = targetRuns(dev.host.targets);
    const selected = runs.reduce((s, [, n]) => s + n, 0);
    if (training && selected < T) this.be.zero(w.rstdf.rows(0, T));
    const selTargets = new Int32Array(selected);
    let cursor = 0;
    for (const [start, n] of runs) {
      this.be.rmsnormForward(w.headIn.rows(cursor, n), w.rstdf.rows(start, n), x.rows(start, n), this.params.tensor('ln_f'), this.spec.eps);
      selTargets.set(dev.host.targets.subarray(start, start + n), cursor);
      cursor += n;
    }
    const targets = arena.alloc('int32', [Math.max(selected, 1)]);
    if (selected > 0) targets.view(0, [selected]).writeInt32(selTargets);
    return { runs, selected, targets };
  }

  free(): void {
    this.acts.arena.freeAll();
    this.dense?.params.free();
    this.dense?.grads.free();
    this.cos.free();
    this.sin.free();
  }

  private upload(host: HostBatch, arena: Arena): DeviceBatch {
    if (host.tokens > this.opts.maxTokens) throw new Error(`micro-batch has ${host.tokens} tokens, more than the model's capacity of ${this.opts.maxTokens}`);
    if (host.maxDocLen > this.opts.maxSeqLen) throw new Error(`a document of ${host.maxDocLen} tokens exceeds max_seq_len ${this.opts.maxSeqLen}`);
    return uploadBatch(host, arena);
  }

  private context(dev: DeviceBatch): BlockContext {
    return { be: this.be, eps: this.spec.eps, attn: this.attn, positions: dev.positions, cuSeqlens: dev.cuSeqlens, cos: this.cos, sin: this.sin };
  }

  private temps(T: number): BlockTemps {
    const w = this.acts.work;
    // a forward's x2, where blocks keep none, goes into dresid, which no forward uses
    return { ln: w.ln.rows(0, T), x2: w.dresid.rows(0, T), x2Again: w.x2Again.rows(0, T), rstd: w.rstd.rows(0, T), h: w.h.rows(0, T), dh: w.dh.rows(0, T) };
  }

  private blockActs(l: number, T: number) {
    const a = this.acts.blocks[l]!;
    return {
      rstd1: a.rstd1.rows(0, T),
      qkv: a.qkv.rows(0, T),
      att: a.att.rows(0, T),
      lse: lseOf(a.lse, T),
      x2: a.x2 ? a.x2.rows(0, T) : null,
      rstd2: a.rstd2.rows(0, T),
      gu: a.gu.rows(0, T),
    };
  }

  /** The adapters' per-call state (null without LoRA); dropout only in training. */
  private loraRun(host: HostBatch, arena: Arena, training: boolean): LoraRun | null {
    const l = this.opts.lora;
    if (!l || !this.lora) return null;
    const drop = training && l.dropout > 0 ? BatchDropout.forBatch(host, l.dropout, this.opts.dropoutSeed ?? 0, arena) : null;
    const work: LoraWork = { arena, r: l.r, dtype: this.opts.dtype, cache: new Map() };
    const normScratch = training ? arena.alloc(this.opts.gradDtype, [this.spec.hidden]) : null;
    return { lora: l, drop, work, normScratch, storage: this.lora };
  }

  private blockLora(run: LoraRun | null, layer: number): BlockLora | null {
    if (!run) return null;
    const targets = run.lora.targets.filter((t) => t.layer === layer);
    const drop = run.drop;
    return {
      be: this.be, targets, params: run.storage.params, grads: run.storage.grads, scale: run.lora.scale, work: run.work,
      mask: (t) => (drop ? drop.loraMask(layer, t.index) : null),
    };
  }

  private blockDropout(dropout: BatchDropout | null, layer: number): BlockDropout | null {
    return dropout ? { attention: dropout.mask(layer, 'attention'), mlp: dropout.mask(layer, 'mlp') } : null;
  }

  /** Embedding and every block (ln_f and the LM head run in the head's own pass). */
  private forwardBlocks(dev: DeviceBatch, hooks: ModelHooks, dropout: BatchDropout | null = null, lora: LoraRun | null = null): void {
    const T = dev.host.tokens;
    const ctx = this.context(dev);
    const tmp = this.temps(T);
    hooks.beforeForward?.('embed');
    this.be.embeddingForward(this.acts.resid[0]!.rows(0, T), dev.ids, this.params.tensor('embed'));
    if (this.spec.embeddingScale !== 1) this.be.scale(this.acts.resid[0]!.rows(0, T), this.spec.embeddingScale);
    hooks.afterForward?.('embed');
    for (let l = 0; l < this.spec.nLayers; l++) {
      hooks.beforeForward?.(l);
      blockForward(ctx, this.params.block(l), this.blockActs(l, T), tmp, this.acts.resid[l]!.rows(0, T), this.acts.resid[l + 1]!.rows(0, T), this.blockDropout(dropout, l),
        this.blockLora(lora, l));
      hooks.afterForward?.(l);
    }
  }

  /** Loss and head gradients; only rows whose target carries loss go through the LM head. */
  private headForwardBackward(dev: DeviceBatch, gradScale: number, arena: Arena, normScratch: Tensor | null): LossResult {
    const T = dev.host.tokens;
    const w = this.acts.work;
    const { runs, selected, targets } = this.normLabelRows(dev, arena, true);
    const W = this.params.lmHead();
    // a frozen base (LoRA): dX through the LM head only, no dW GEMM
    const gW = this.grads ? this.grads.lmHead() : null;
    let lossSum = 0;
    let count = 0;
    for (let r = 0; r < selected; r += this.logitsChunk) {
      const n = Math.min(this.logitsChunk, selected - r);
      const logits = w.logits.rows(0, n);
      const x = w.headIn.rows(r, n);
      this.be.linearForward(logits, x, W, null, false);
      const ce = this.be.crossEntropy(logits, targets.view(r, [n]), this.spec.logitScale, gradScale, true);
      lossSum += ce.lossSum;
      count += ce.count;
      // the chunk's input gradient over its input rows, which the weight gradient reads first
      this.be.linearBackward(x, gW, null, logits, x, W, false);
    }
    // scatter the head's input gradients back to their rows of dlnf (over the logits, now done)
    const dlnf = w.dlnf.rows(0, T);
    if (selected < T) this.be.zero(dlnf);
    let cursor = 0;
    for (const [start, n] of runs) {
      this.be.copy(dlnf.rows(start, n), w.headIn.rows(cursor, n));
      cursor += n;
    }
    const L = this.spec.nLayers;
    const dresid = w.dresid.rows(0, T);
    this.be.zero(dresid);
    // a frozen base (LoRA): ln_f's weight gradient goes to the blocks' norm scratch
    const gLnf = this.grads ? this.grads.tensor('ln_f') : normScratch;
    if (!gLnf) throw new Error('headForwardBackward: a frozen base needs the norm scratch');
    this.be.rmsnormBackward(dresid, gLnf, dlnf, this.acts.resid[L]!.rows(0, T), this.params.tensor('ln_f'), w.rstdf.rows(0, T));
    return { lossSum, count };
  }

  private headForward(dev: DeviceBatch, returnLogits: boolean): LossResult & { logits?: Float32Array } {
    const T = dev.host.tokens;
    const V = this.spec.vocab;
    const w = this.acts.work;
    this.be.rmsnormForward(w.headIn.rows(0, T), w.rstdf.rows(0, T), this.acts.resid[this.spec.nLayers]!.rows(0, T), this.params.tensor('ln_f'), this.spec.eps);
    const out = returnLogits ? new Float32Array(T * V) : undefined;
    const loss = this.headLoss(w.headIn, T, dev.targets, out ? (logits, r) => {
      const values = logits.toFloat32();
      for (let i = 0; i < values.length; i++) values[i]! *= this.spec.logitScale;
      out.set(values, r * V);
    } : undefined);
    return out ? { ...loss, logits: out } : loss;
  }

  /**
   * Loss (no gradient) of the first `rows` rows of `input` through the LM head, one logits chunk
   * at a time; onLogits sees each chunk's raw logits and its first row.
   */
  private headLoss(input: Tensor, rows: number, targets: Tensor, onLogits?: (logits: Tensor, row: number) => void): LossResult {
    const W = this.params.lmHead();
    const w = this.acts.work;
    let lossSum = 0;
    let count = 0;
    for (let r = 0; r < rows; r += this.logitsChunk) {
      const n = Math.min(this.logitsChunk, rows - r);
      const logits = w.logits.rows(0, n);
      this.be.linearForward(logits, input.rows(r, n), W, null, false);
      onLogits?.(logits, r);
      const ce = this.be.crossEntropy(logits, targets.view(r, [n]), this.spec.logitScale, 0, false);
      lossSum += ce.lossSum;
      count += ce.count;
    }
    return { lossSum, count };
  }

  private backwardBlocks(dev: DeviceBatch, hooks: ModelHooks, dropout: BatchDropout | null, lora: LoraRun | null = null): void {
    const T = dev.host.tokens;
    const ctx = this.context(dev);
    const tmp = this.temps(T);
    const dresid = this.acts.work.dresid.rows(0, T);
    for (let l = this.spec.nLayers - 1; l >= 0; l--) {
      hooks.beforeBackward?.(l);
      const x = this.acts.resid[l]!.rows(0, T);
      const act = this.blockActs(l, T);
      const drop = this.blockDropout(dropout, l);
      const bl = this.blockLora(lora, l);
      // the block's output, which nothing reads any more, holds its norms' input gradients
      const out = this.acts.resid[l + 1]!.rows(0, T);
      if (this.opts.recompute) {
        // refill the shared activation set from the saved block input; the output lands on
        // resid[l + 1] again, the values it holds. The dropout masks are regenerated from their
        // keys, identical to the first forward's.
        blockForward(ctx, this.params.block(l), act, tmp, x, out, drop, bl);
      }
      // under a frozen base nothing below block 0 takes a gradient, so block 0 skips d(input)
      const inputGrad = this.grads !== null || l > 0;
      blockBackward(ctx, this.params.block(l), this.grads ? this.grads.block(l) : null, act, { ...tmp, dln: out, ...attentionGrads(this.spec, this.acts, this.acts.blocks[l]!.gu, T) }, x, dresid, drop, bl,
        lora?.normScratch ?? null, inputGrad);
      hooks.afterBackward?.(l);
    }
    hooks.beforeBackward?.('embed');
    // a frozen embedding (LoRA) needs no gradient at all
    if (this.grads) {
      if (this.spec.embeddingScale !== 1) this.be.scale(dresid, this.spec.embeddingScale);
      this.be.embeddingBackward(this.grads.tensor('embed'), dev.ids, dresid);
    }
    hooks.afterBackward?.('embed');
  }
}

interface LoraRun {
  lora: ModelLora;
  drop: BatchDropout | null;
  work: LoraWork;
  /** Frozen norms' weight gradients (training only). */
  normScratch: Tensor | null;
  storage: { params: ParamViews; grads: ParamViews };
}

/** Maximal runs [start, length] of positions whose target carries loss. */
export function targetRuns(targets: Int32Array): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let t = 0;
  while (t < targets.length) {
    if (targets[t] === -100) {
      t++;
      continue;
    }
    const start = t;
    while (t < targets.length && targets[t] !== -100) t++;
    runs.push([start, t - start]);
  }
  return runs;
}
