// ZeRO stages 0-3 over a Communicator (deepspeed.md "ZeRO semantics"). Every unit of the
// model (embedding, each block, head) is padded and cut into one chunk per rank
// (partition.ts); what each rank keeps of a unit depends on the stage:
//
//   stage 0  params whole, grads whole, optimizer whole; grads all-reduced (DDP)
//   stage 1  params whole, grads whole, optimizer on my chunk; grads reduce-scattered once
//            per step, updated chunks all-gathered
//   stage 2  params whole, grads: my chunk only (each unit's gradient goes through a bucket
//            that is reduce-scattered as soon as the unit's backward is done), optimizer on
//            my chunk, updated chunks all-gathered
//   stage 3  params: my chunk only, gathered into a buffer just before a unit runs
//            (forward, and again in backward; the next unit is prefetched) and released
//            after; units no larger than the persistence threshold stay whole as in stage 2
//
// The model reads parameters and writes gradients through UnitViews, so the model math is
// the same for every stage. Gradient scaling makes the loss the mean over the global batch's
// label tokens, so reductions are sums.
//
// LoRA (ModelOptions.lora): the trainable table is the adapters' (model/lora.ts), partitioned
// and optimized as above; the base is frozen: stored in the training dtype with no gradients,
// no master copy and no optimizer state, whole at stages 0-2, and at stage 3 cut into chunks
// and gathered per unit exactly like trainable parameters.
import type { Communicator, CommHandle } from '../distributed/communicator.js';
import type { HostBatch } from '../model/batch.js';
import { TelechatModel, type LossResult, type ModelHooks, type ModelOptions, type Unit } from '../model/model.js';
import { buildLoraTable } from '../model/lora.js';
import { buildParamTable, type ParamKind, type ParamTable, type ParamViews, type UnitRange } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import type { Backend } from '../native/backend.js';
import { timeSection } from '../native/profile.js';
import { DType, MemCategory, type Tensor, alloc } from '../native/tensor.js';
import { type AdamHyper, ShardAdamW } from './adamw.js';
import { decaySegments, type Engine, type StepInput, type StepResult } from './engine.js';
import { partition, type UnitShard } from './partition.js';
import { UnitViews } from './unit_views.js';

export type ZeroStage = 0 | 1 | 2 | 3;

export interface ZeroOptions {
  stage: ZeroStage;
  comm: Communicator;
  spec: ModelSpec;
  be: Backend;
  model: ModelOptions;
  hyper: AdamHyper;
  noDecay: readonly ParamKind[];
  /** Launch gradient reductions while backward continues (waited for at the step). */
  overlapComm: boolean;
  /** Stage 3: gather the next unit while the current one computes. */
  prefetch: boolean;
  /** Stage 3: units with at most this many elements stay whole on every rank. */
  persistenceThreshold: number;
  /** Keep the optimizer state in host memory when the backend is a GPU (offload_optimizer "cpu"). */
  offloadOptimizer?: boolean;
  /** Stage 3 on a GPU: keep the parameter chunks of sharded units in host memory (offload_param "cpu"). */
  offloadParam?: boolean;
}

/** Where one unit's parameters live on this rank (trainable, or the frozen LoRA base). */
interface ParamSlot {
  range: UnitRange;
  shard: UnitShard;
  /** Whole parameters (stages 0-2, persistent stage-3 units). */
  whole: Tensor | null;
  /** My chunk of the parameters (sharded stage-3 units). */
  chunk: Tensor | null;
  /** Stage 3: the gathered parameters while the unit is live. */
  gathered: Tensor | null;
  gathering: CommHandle | null;
  /** Stage 3 with offloaded chunks: the chunk's device copy while it is being gathered. */
  upload: Tensor | null;
}

interface UnitState extends ParamSlot {
  /** LoRA: the unit's frozen base parameters (null without LoRA). */
  base: ParamSlot | null;
  /** Stages 0-1: whole gradients. */
  wholeGrad: Tensor | null;
  /** Stages 2-3: my chunk of the reduced gradients (accumulated over micro-steps). */
  chunkGrad: Tensor | null;
  /** Stages 2-3: the gradient bucket of the current backward. */
  bucket: Tensor | null;
  optimizer: ShardAdamW;
}

/**
 * Stages 2-3 with overlap_comm: gradient reductions outstanding while backward continues. Two
 * keep the communicator busy (one on the wire, one queued) while bounding the bucket memory
 * to two units' gradients plus the one being written.
 */
const MAX_REDUCTIONS_IN_FLIGHT = 2;

interface PendingReduce {
  handle: CommHandle;
  /** Runs after the collective completes (accumulate, free). */
  finish: () => void;
}

export class ZeroEngine implements Engine {
  readonly model: TelechatModel;
  readonly worldSize: number;
  /** This process's rank in the data-parallel group. */
  readonly rankIndex: number;
  /** The trainable parameters: the model's, or the LoRA adapters'. */
  readonly table: ParamTable;
  /** LoRA: the frozen base's table (null without LoRA). */
  readonly baseTable: ParamTable | null;
  readonly stage: ZeroStage;
  private readonly comm: Communicator;
  private readonly units: UnitState[];
  private readonly byUnit = new Map<Unit, UnitState>();
  private readonly pending: PendingReduce[] = [];
  private readonly hooks: ModelHooks;
  private readonly evalHooks: ModelHooks;
  private lastMicroStep = false;
  /** Stage 3 execution order of one micro-step, for prefetching. */
  private readonly order: Unit[];

  constructor(private readonly opts: ZeroOptions) {
    const { comm, spec, stage } = opts;
    this.comm = comm;
    this.stage = stage;
    this.worldSize = comm.size;
    this.rankIndex = comm.rank;
    const lora = opts.model.lora;
    this.table = lora ? buildLoraTable(spec, lora.targets, lora.r, comm.size) : buildParamTable(spec, comm.size);
    this.baseTable = lora ? buildParamTable(spec, comm.size) : null;
    const dtype = opts.model.dtype;
    const gradDtype = opts.model.gradDtype;
    const device = opts.be.device;
    const slot = (range: UnitRange, shard: UnitShard): ParamSlot => {
      const sharded = stage === 3 && shard.length > opts.persistenceThreshold;
      const whole = sharded ? null : alloc(dtype, [shard.length], MemCategory.Params, device);
      // offload_param: the chunks live in host memory and are uploaded for each gather
      const chunkDevice = opts.offloadParam ? 'cpu' : device;
      const chunk = sharded ? alloc(dtype, [shard.chunk], MemCategory.Params, chunkDevice) : null;
      return { range, shard, whole, chunk, gathered: null, gathering: null, upload: null };
    };
    const baseShards = this.baseTable ? partition(this.baseTable, comm.rank, comm.size) : null;
    this.units = partition(this.table, comm.rank, comm.size).map((shard, i) => {
      const range = this.table.units[i]!;
      const { whole, chunk } = slot(range, shard);
      const base = baseShards ? slot(this.baseTable!.units[i]!, baseShards[i]!) : null;
      const wholeGrad = stage <= 1 ? alloc(gradDtype, [shard.length], MemCategory.Grads, device) : null;
      const chunkGrad = stage >= 2 ? alloc(gradDtype, [shard.chunk], MemCategory.Grads, device) : null;
      // the optimizer's view of this rank's part: the whole unit at stage 0, else my chunk
      const offset = stage === 0 ? 0 : comm.rank * shard.chunk;
      const n = stage === 0 ? shard.length : shard.chunk;
      const optParams = chunk ?? whole!.view(offset, [n]);
      const optGrads = chunkGrad ?? wholeGrad!.view(offset, [n]);
      const segStart = range.start + offset;
      const optimizer = new ShardAdamW(opts.be, optParams, optGrads, decaySegments(this.table, segStart, segStart + n, opts.noDecay), opts.hyper, opts.offloadOptimizer ?? false);
      return { range, shard, whole, chunk, gathered: null, gathering: null, upload: null, base, wholeGrad, chunkGrad, bucket: null, optimizer };
    });
    for (const u of this.units) this.byUnit.set(u.range.unit, u);
    const params: ParamViews = new UnitViews(this.table, (r) => this.paramsOf(this.unit(r.unit)));
    const grads: ParamViews = new UnitViews(this.table, (r) => this.gradsOf(this.unit(r.unit)));
    if (this.baseTable) {
      const base: ParamViews = new UnitViews(this.baseTable, (r) => this.paramsOf(this.unit(r.unit).base!));
      this.model = new TelechatModel(spec, opts.be, opts.model, { params: base, grads: null, lora: { params, grads } });
    } else {
      this.model = new TelechatModel(spec, opts.be, opts.model, { params, grads });
    }
    const L = spec.nLayers;
    this.order = ['embed', ...Array.from({ length: L }, (_, l) => l), 'head', ...Array.from({ length: L }, (_, l) => L - 1 - l), 'embed'];
    this.hooks = this.makeHooks();
    this.evalHooks = this.makeEvalHooks();
  }

  private unit(u: Unit): UnitState {
    const s = this.byUnit.get(u);
    if (!s) throw new Error(`no unit ${String(u)}`);
    return s;
  }

  // ---- parameters -------------------------------------------------------------------

  /** The unit's whole parameters: resident, or gathered (blocking if not yet). */
  private paramsOf(u: ParamSlot): Tensor {
    if (u.whole) return u.whole;
    if (!u.gathered) this.startGather(u);
    if (u.gathering) {
      u.gathering.wait();
      u.gathering = null;
    }
    return u.gathered!;
  }

  private startGather(u: ParamSlot): void {
    if (u.whole || u.gathered) return;
    const device = this.opts.be.device;
    u.gathered = alloc(this.opts.model.dtype, [u.shard.length], MemCategory.Buffers, device);
    let chunk = u.chunk!;
    if (chunk.device !== device) {
      u.upload = alloc(chunk.type, [u.shard.chunk], MemCategory.Buffers, device);
      copyAcross(this.opts.be, u.upload, chunk);
      chunk = u.upload;
    }
    u.gathering = this.opts.prefetch ? this.comm.allGatherAsync(chunk, u.gathered) : null;
    if (!this.opts.prefetch) this.comm.allGather(chunk, u.gathered);
  }

  private release(u: ParamSlot): void {
    if (!u.gathered) return;
    if (u.gathering) {
      u.gathering.wait();
      u.gathering = null;
    }
    u.gathered.free();
    u.gathered = null;
    u.upload?.free();
    u.upload = null;
  }

  // ---- gradients --------------------------------------------------------------------

  /** Where the model accumulates this unit's gradients right now. */
  private gradsOf(u: UnitState): Tensor {
    if (u.wholeGrad) return u.wholeGrad;
    if (!u.bucket) {
      u.bucket = alloc(this.opts.model.gradDtype, [u.shard.length], MemCategory.Buffers, this.opts.be.device);
    }
    return u.bucket;
  }

  /** The unit's gradients are complete for this micro-step: start their reduction. */
  private reduceUnit(u: UnitState): void {
    if (this.stage === 0) {
      if (!this.lastMicroStep) return;
      this.launch(this.comm.allReduceAsync(u.wholeGrad!, 'sum'), () => {});
    } else if (this.stage === 1) {
      if (!this.lastMicroStep) return;
      // in place: the ring reduce-scatter reads its input before writing my chunk
      const mine = u.wholeGrad!.view(this.comm.rank * u.shard.chunk, [u.shard.chunk]);
      this.launch(this.comm.reduceScatterAsync(u.wholeGrad!, mine, 'sum'), () => {});
    } else {
      const bucket = u.bucket;
      if (!bucket) return; // no gradient reached this unit
      u.bucket = null;
      const out = alloc(this.opts.model.gradDtype, [u.shard.chunk], MemCategory.Buffers, this.opts.be.device);
      this.launch(this.comm.reduceScatterAsync(bucket, out, 'sum'), () => {
        this.opts.be.add(u.chunkGrad!, u.chunkGrad!, out);
        out.free();
        bucket.free();
      });
    }
  }

  private launch(handle: CommHandle, finish: () => void): void {
    this.pending.push({ handle, finish });
    if (!this.opts.overlapComm) return timeSection('engine.waitReductions', () => this.drain());
    // Overlap: finish what the communicator has completed (in launch order, so gradients are
    // accumulated in the same order as without overlap), and at stages 2-3 keep at most
    // MAX_REDUCTIONS_IN_FLIGHT outstanding, so their buckets never add up to a whole
    // unsharded gradient while backward continues.
    const limit = this.stage >= 2 ? MAX_REDUCTIONS_IN_FLIGHT : Infinity;
    while (this.pending.length > limit || (this.pending.length > 0 && this.pending[0]!.handle.isDone())) {
      const p = this.pending.shift()!;
      p.handle.wait();
      p.finish();
    }
  }

  private drain(): void {
    while (this.pending.length) {
      const p = this.pending.shift()!;
      p.handle.wait();
      p.finish();
    }
  }

  // ---- hooks ------------------------------------------------------------------------

  /** Stage 3 with prefetch: starts gathering the unit after `position` in `order` (and its frozen base). */
  private prefetchAfter(order: readonly Unit[], position: number): void {
    if (this.stage !== 3 || !this.opts.prefetch) return;
    const next = order[position + 1];
    if (next === undefined) return;
    const u = this.unit(next);
    this.startGather(u);
    if (u.base) this.startGather(u.base);
  }

  /** Stage 3: the unit's parameters (and frozen base) gathered before it runs. */
  private gatherUnit(u: UnitState): void {
    this.paramsOf(u);
    if (u.base) this.paramsOf(u.base);
  }

  private releaseUnit(u: UnitState): void {
    this.release(u);
    if (u.base) this.release(u.base);
  }

  /**
   * The forward half, shared by training and evaluation: stage 3 gathers each unit, prefetches
   * the one after it in `order` (training's order goes on into the backward, evaluation's ends
   * at the head) and releases it after.
   */
  private forwardHooks(order: readonly Unit[]): ModelHooks {
    return {
      beforeForward: (u) => {
        if (this.stage !== 3) return;
        this.gatherUnit(this.unit(u));
        this.prefetchAfter(order, order.indexOf(u));
      },
      afterForward: (u) => {
        if (this.stage !== 3) return;
        this.releaseUnit(this.unit(u));
        if (u === 'head') this.releaseUnit(this.unit('embed')); // gathered for a tied LM head
      },
    };
  }

  private makeHooks(): ModelHooks {
    return {
      ...this.forwardHooks(this.order),
      beforeBackward: (u) => {
        if (this.stage === 3) {
          this.gatherUnit(this.unit(u));
          this.prefetchAfter(this.order, this.order.lastIndexOf(u));
        }
      },
      afterBackward: (u) => {
        const unit = this.unit(u);
        // with tied embeddings the head also wrote into the embedding's gradients: those
        // are complete only after the embedding's own backward
        this.reduceUnit(unit);
        if (this.stage === 3) {
          this.releaseUnit(unit);
          if (u === 'head') this.releaseUnit(this.unit('embed')); // gathered for a tied LM head
        }
      },
    };
  }

  /** Forward only (evaluation): the forward half over the forward order alone. */
  private makeEvalHooks(): ModelHooks {
    return this.forwardHooks(this.order.slice(0, this.order.indexOf('head') + 1));
  }

  // ---- Engine -----------------------------------------------------------------------

  microStep(batch: HostBatch, gradScale: number, last: boolean): LossResult {
    this.lastMicroStep = last;
    return this.model.forwardBackward(batch, gradScale, this.hooks);
  }

  /**
   * Evaluation forward of one micro-batch: the summed loss over its label tokens, no gradients.
   * At stage 3 every rank must call it the same number of times (the gathers are collective).
   */
  evalLoss(batch: HostBatch): LossResult {
    return this.model.forwardLoss(batch, this.evalHooks);
  }

  /** Sum over ranks of a double, exactly enough for norms and losses (two fp32 halves). */
  allReduceSum(x: number): number {
    const hi = Math.fround(x);
    const buf = alloc(DType.F32, [2], MemCategory.Buffers, this.opts.be.device);
    try {
      buf.writeFloat32(new Float32Array([hi, x - hi]));
      this.comm.allReduce(buf, 'sum');
      const [a, b] = buf.toFloat32();
      return a! + b!;
    } finally {
      buf.free();
    }
  }

  step(input: StepInput): StepResult {
    timeSection('engine.waitReductions', () => this.drain());
    let sumSq = timeSection('engine.gradNorm', () => this.units.reduce((s, u) => s + this.opts.be.sumSquares(u.optimizer.grads), 0));
    // stage 0 holds the whole reduced gradient on every rank; the others hold one chunk each
    if (this.stage > 0) sumSq = this.allReduceSum(sumSq);
    const overflow = !Number.isFinite(sumSq);
    let gradNorm = NaN;
    if (!overflow) {
      gradNorm = Math.sqrt(sumSq) / input.lossScale;
      const clip = input.maxGradNorm > 0 ? Math.min(1, input.maxGradNorm / (gradNorm + 1e-6)) : 1;
      timeSection('engine.adamw', () => {
        for (const u of this.units) u.optimizer.step(input.step, input.lr, clip / input.lossScale, input.betas ?? null);
      });
      if (this.stage > 0) this.gatherUpdated();
    }
    this.discardGradients();
    return { gradNorm, overflow };
  }

  /** Stages 1-3: every rank updated its chunks; whole units are re-assembled. */
  private gatherUpdated(): void {
    const handles: Array<{ h: CommHandle; staging: Tensor }> = [];
    for (const u of this.units) {
      if (!u.whole) continue; // sharded stage-3 units are gathered when next used
      const staging = alloc(this.opts.model.dtype, [u.shard.chunk], MemCategory.Buffers, this.opts.be.device);
      this.opts.be.copy(staging, u.whole.view(this.comm.rank * u.shard.chunk, [u.shard.chunk]));
      handles.push({ h: this.comm.allGatherAsync(staging, u.whole), staging });
    }
    for (const { h, staging } of handles) {
      h.wait();
      staging.free();
    }
  }

  discardGradients(): void {
    this.drain();
    for (const u of this.units) {
      if (u.wholeGrad) this.opts.be.zero(u.wholeGrad);
      if (u.chunkGrad) this.opts.be.zero(u.chunkGrad);
      if (u.bucket) {
        u.bucket.free();
        u.bucket = null;
      }
    }
  }

  /**
   * Writes initial parameters unit by unit: `write` fills the unit's entries through the
   * views it is given; a sharded unit then keeps only this rank's chunk.
   */
  initParams(write: (views: ParamViews, unit: UnitRange) => void): void {
    for (const u of this.units) {
      this.fillSlot(this.table, u, write);
      u.optimizer.syncMaster();
    }
  }

  /** LoRA: writes the frozen base unit by unit, as initParams does the trainable parameters. */
  initBase(write: (views: ParamViews, unit: UnitRange) => void): void {
    if (!this.baseTable) throw new Error('initBase: not a LoRA engine');
    for (const u of this.units) this.fillSlot(this.baseTable, u.base!, write);
  }

  private fillSlot(table: ParamTable, u: ParamSlot, write: (views: ParamViews, unit: UnitRange) => void): void {
    {
      const full = u.whole ?? alloc(this.opts.model.dtype, [u.shard.length], MemCategory.Buffers, this.opts.be.device);
      const views = new UnitViews(table, (r) => {
        if (r.unit !== u.range.unit) throw new Error(`initialising unit ${String(u.range.unit)} touched unit ${String(r.unit)}`);
        return full;
      });
      write(views, u.range);
      if (u.chunk) {
        copyAcross(this.opts.be, u.chunk, full.view(this.comm.rank * u.shard.chunk, [u.shard.chunk]));
        full.free();
      }
    }
  }

  /** The part of each unit this rank's optimizer owns, unit-relative (stage 0: all of it). */
  ownedRange(unitIndex: number): [number, number] {
    const sh = this.units[unitIndex]!.shard;
    return this.stage === 0 ? [0, sh.length] : [this.comm.rank * sh.chunk, (this.comm.rank + 1) * sh.chunk];
  }

  /** This rank's optimizer state per unit (master weights and moments) for saving. */
  optimizerState(unitIndex: number): { master: Tensor; expAvg: Tensor; expAvgSq: Tensor } {
    const o = this.units[unitIndex]!.optimizer;
    return { master: o.master, expAvg: o.expAvg, expAvgSq: o.expAvgSq };
  }

  /**
   * Restores every unit from saved state: read(unitIndex, kind, start, count) returns the
   * unit-relative values. Parameters follow the restored fp32 masters; whole units are then
   * re-assembled from every rank's chunk.
   */
  loadOptimizerState(read: (unitIndex: number, kind: 'master' | 'exp_avg' | 'exp_avg_sq', start: number, count: number) => Float32Array): void {
    this.units.forEach((u, i) => {
      const [a, b] = this.ownedRange(i);
      u.optimizer.setState(read(i, 'master', a, b - a), read(i, 'exp_avg', a, b - a), read(i, 'exp_avg_sq', a, b - a));
    });
    if (this.stage > 0) this.gatherUpdated();
  }

  /**
   * Calls `use` with each unit's whole parameters in unit order (gathering sharded units);
   * every rank must call it, as the gathers are collective.
   */
  forEachWholeUnit(use: (views: ParamViews, unit: UnitRange) => void): void {
    for (const u of this.units) {
      const full = this.paramsOf(u);
      use(new UnitViews(this.table, (r) => (r.unit === u.range.unit ? full : this.paramsOf(this.unit(r.unit)))), u.range);
      if (this.stage === 3) this.release(u);
    }
  }

  /**
   * LoRA: each unit's whole frozen base and whole adapters together (gathering sharded ones);
   * collective like forEachWholeUnit.
   */
  forEachWholeLoraUnit(use: (base: ParamViews, adapters: ParamViews, unit: UnitRange) => void): void {
    if (!this.baseTable) throw new Error('forEachWholeLoraUnit: not a LoRA engine');
    for (const u of this.units) {
      const base = this.paramsOf(u.base!);
      const adapters = this.paramsOf(u);
      const other = (r: UnitRange): Tensor => this.paramsOf(this.unit(r.unit).base!);
      use(new UnitViews(this.baseTable, (r) => (r.unit === u.range.unit ? base : other(r))), new UnitViews(this.table, () => adapters), u.base!.range);
      if (this.stage === 3) this.releaseUnit(u);
    }
  }

  free(): void {
    this.drain();
    for (const u of this.units) {
      this.releaseUnit(u);
      u.optimizer.free();
      u.whole?.free();
      u.chunk?.free();
      u.base?.whole?.free();
      u.base?.chunk?.free();
      u.wholeGrad?.free();
      u.chunkGrad?.free();
      u.bucket?.free();
    }
    this.model.free();
  }
}

/** dst = src, on the backend when both live on its device, else through the host. */
function copyAcross(be: Backend, dst: Tensor, src: Tensor): void {
  if (dst.device === be.device && src.device === be.device) be.copy(dst, src);
  else dst.writeBytes(src.readBytes());
}
