// The CUDA backend: native/src/cuda kernels (and cuBLAS GEMMs) over device tensors, with the
// same semantics and argument checks as the CPU backend (backend.ts, native/src/cpu/ops.h).
// Every tensor must live on 'cuda'; small index tensors (cu_seqlens, rope positions, ids for
// error messages) are read back to validate them, which synchronises with the GPU.
import { addon, cudaAddon, type CudaFunctions } from './addon.js';
import type { AttentionShape, Backend } from './backend.js';
import { expectDevice, expectDtype, expectInt32, expectMatrix, fail, firstOutside, floatDtype, shapeText } from './checks.js';
import {
  adamwArgs, addArgs, castArgs, copyArgs, crossEntropyArgs, dropoutArgs, embeddingBackwardArgs, embeddingForwardArgs, linearBackwardArgs, linearForwardArgs, loraBackwardArgs, loraForwardArgs,
  rmsnormBackwardArgs, rmsnormForwardArgs, ropeArgs, swigluBackwardArgs, swigluForwardArgs,
} from './op_args.js';
import { DType, dtypeName, type Tensor } from './tensor.js';

const IGNORE_INDEX = -100;

/** Head dims the FlashAttention-2 kernels are built for (attention_supported in native/src/cuda/attention.cu). */
export const CUDA_ATTENTION_HEAD_DIMS: readonly number[] = [32, 64, 96, 128];

const onDevice = (op: string, named: Record<string, Tensor | null>): void => expectDevice(op, 'cuda', named);

/** Validated cu_seqlens: number of documents and the longest one. */
export function checkCuSeqlens(op: string, cuSeqlens: Tensor, T: number): { numDocs: number; maxSeqlen: number } {
  expectInt32(op, 'cuSeqlens', cuSeqlens);
  if (cuSeqlens.shape.length !== 1 || cuSeqlens.shape[0]! < 2) {
    fail(op, `cuSeqlens has shape ${shapeText(cuSeqlens)}, expected [numDocs + 1] with numDocs >= 1`);
  }
  const cu = cuSeqlens.toInt32();
  return cuSeqlensInfo(op, cu, T);
}

/** Pure check of host cu_seqlens values (exported for tests). */
export function cuSeqlensInfo(op: string, cu: Int32Array, T: number): { numDocs: number; maxSeqlen: number } {
  if (cu[0] !== 0) fail(op, `cuSeqlens[0] is ${cu[0]}, expected 0`);
  let maxSeqlen = 0;
  for (let i = 1; i < cu.length; i++) {
    const len = cu[i]! - cu[i - 1]!;
    if (len < 0) fail(op, `cuSeqlens decreases at index ${i} (${cu[i - 1]} -> ${cu[i]})`);
    maxSeqlen = Math.max(maxSeqlen, len);
  }
  if (cu[cu.length - 1] !== T) fail(op, `cuSeqlens ends at ${cu[cu.length - 1]}, expected T = ${T} (rows of qkv)`);
  return { numDocs: cu.length - 1, maxSeqlen };
}

/** Shape checks of attention (same layout as the CPU backend); returns T and the dtype. */
export function checkAttention(op: string, qkv: Tensor, shape: AttentionShape, cudaHeadDimOk: (D: number, dt: DType) => boolean): { T: number; dt: DType } {
  const { nHeads, nKvHeads, headDim, scale } = shape;
  for (const [key, v] of [['nHeads', nHeads], ['nKvHeads', nKvHeads], ['headDim', headDim]] as const) {
    if (!Number.isInteger(v) || v <= 0) fail(op, `${key} must be a positive integer, got ${v}`);
  }
  if (nHeads % nKvHeads !== 0) fail(op, `nHeads (${nHeads}) is not a multiple of nKvHeads (${nKvHeads})`);
  if (!Number.isFinite(scale)) fail(op, `scale must be finite, got ${scale}`);
  const dt = floatDtype(op, 'qkv', qkv);
  if (!cudaHeadDimOk(headDim, dt)) {
    const dims = `${CUDA_ATTENTION_HEAD_DIMS.slice(0, -1).join(', ')} and ${CUDA_ATTENTION_HEAD_DIMS.at(-1)}`;
    fail(op, `the CUDA FlashAttention kernels support head dims ${dims} in bf16 (fp16 through the raw addon), got headDim ${headDim} in ${dtypeName(dt)}`);
  }
  const row = (nHeads + 2 * nKvHeads) * headDim;
  if (qkv.shape.length !== 2 || qkv.shape[1] !== row) {
    fail(op, `qkv has shape ${shapeText(qkv)}, expected [T, ${row}] = [T, (nHeads + 2 * nKvHeads) * headDim]`);
  }
  return { T: qkv.shape[0]!, dt };
}

function expectLseShape(op: string, lse: Tensor, nHeads: number, T: number): void {
  if (lse.shape.length !== 2 || lse.shape[0] !== nHeads || lse.shape[1] !== T) {
    fail(op, `lse has shape ${shapeText(lse)}, expected [${nHeads}, ${T}] = [nHeads, T]`);
  }
}

/** Builds the backend; throws when the addon has no CUDA or no device is visible. */
export function createCudaBackend(): Backend {
  const c: CudaFunctions = cudaAddon();
  const info = addon.buildInfo();
  if (info.cudaDevices < 1) throw new Error('cuda backend: the addon has CUDA but no GPU is visible (cudaGetDeviceCount = 0)');
  return cudaBackendOver(c);
}

/** The backend over a given set of CUDA functions (the addon's, or a recording fake in tests). */
export function cudaBackendOver(c: CudaFunctions): Backend {
  const headDimOk = (D: number, dt: DType): boolean => c.cudaAttentionSupported(D, dt);

  return {
    name: 'cuda',
    device: 'cuda',
    zero(x) {
      onDevice('zero', { x });
      c.cudaFillZero(x.ptr, x.numel, floatDtype('zero', 'x', x));
    },
    copy(dst, src) {
      onDevice('copy', { dst, src });
      c.cudaCopy(dst.ptr, src.ptr, copyArgs(dst, src).bytes);
    },
    add(y, a, b) {
      onDevice('add', { y, a, b });
      const x = addArgs(y, a, b);
      c.cudaAdd(y.ptr, a.ptr, b.ptr, x.n, x.dt);
    },
    scale(x, s) {
      onDevice('scale', { x });
      c.cudaScaleInplace(x.ptr, s, x.numel, floatDtype('scale', 'x', x));
    },
    embeddingForward(out, ids, table) {
      onDevice('embeddingForward', { out, ids, table });
      const a = embeddingForwardArgs(out, ids, table);
      const bad = c.cudaEmbeddingForward(out.ptr, ids.ptr, table.ptr, a.T, a.C, a.V, a.dt);
      if (bad >= 0) fail(a.op, `token id ${ids.toInt32()[bad]} at position ${bad} is outside the vocabulary [0, ${a.V})`);
    },
    embeddingBackward(dtable, ids, dout) {
      onDevice('embeddingBackward', { dtable, ids, dout });
      const a = embeddingBackwardArgs(dtable, ids, dout);
      const bad = firstOutside(ids, 0, a.V);
      if (bad) fail(a.op, `token id ${bad[1]} at position ${bad[0]} is outside the vocabulary [0, ${a.V})`);
      c.cudaEmbeddingBackward(dtable.ptr, ids.ptr, dout.ptr, a.T, a.C, a.dt, a.gdt);
    },
    rmsnormForward(y, rstd, x, w, eps) {
      onDevice('rmsnormForward', { y, rstd, x, w });
      const a = rmsnormForwardArgs(y, rstd, x, w);
      c.cudaRmsnormForward(y.ptr, rstd.ptr, x.ptr, w.ptr, a.T, a.C, eps, a.dt);
    },
    rmsnormBackward(dx, dw, dy, x, w, rstd) {
      onDevice('rmsnormBackward', { dx, dw, dy, x, w, rstd });
      const a = rmsnormBackwardArgs(dx, dw, dy, x, w, rstd);
      c.cudaRmsnormBackward(dx.ptr, dw.ptr, dy.ptr, x.ptr, w.ptr, rstd.ptr, a.T, a.C, a.dt, a.gdt);
    },
    linearForward(y, x, w, b, accumulate) {
      onDevice('linearForward', { y, x, w, b });
      const a = linearForwardArgs(y, x, w, b);
      c.cudaLinearForward(y.ptr, x.ptr, w.ptr, b ? b.ptr : null, a.T, a.In, a.Out, a.dt, accumulate);
    },
    linearBackward(dx, dw, db, dy, x, w, accumulateDx) {
      onDevice('linearBackward', { dx, dw, db, dy, x, w });
      const a = linearBackwardArgs(dx, dw, db, dy, x, w);
      c.cudaLinearBackward(dx ? dx.ptr : null, dw ? dw.ptr : null, db ? db.ptr : null, dy.ptr, x.ptr, w.ptr, a.T, a.In, a.Out, a.dt, a.gdt, accumulateDx);
    },
    loraForward(y, u, x, a, b, col0, scale, accumulate) {
      onDevice('loraForward', { y, u, x, a, b });
      const s = loraForwardArgs(y, u, x, a, b, col0);
      c.cudaLoraForward(y ? y.ptr : null, u.ptr, x.ptr, a.ptr, b.ptr, s.T, s.In, s.R, s.Out, s.width, col0, scale, s.dt, accumulate);
    },
    loraBackward(dx, ga, gb, dy, x, u, a, b, col0, scale, accumulateDx) {
      onDevice('loraBackward', { dx, ga, gb, dy, x, u, a, b });
      const s = loraBackwardArgs(dx, ga, gb, dy, x, u, a, b, col0);
      c.cudaLoraBackward(dx ? dx.ptr : null, ga.ptr, gb.ptr, dy.ptr, x.ptr, u.ptr, a.ptr, b.ptr, s.T, s.In, s.R, s.Out, s.width, col0, scale,
        s.dt, s.gdt, accumulateDx);
    },
    ropeForward(x, positions, cos, sin, nHeads) {
      onDevice('ropeForward', { x, positions, cos, sin });
      const a = ropeArgs('ropeForward', x, positions, cos, sin, { nHeads });
      c.cudaRopeForward(x.ptr, positions.ptr, cos.ptr, sin.ptr, a.T, nHeads, a.D, a.W, a.dt);
    },
    ropeBackward(dx, positions, cos, sin, nHeads) {
      onDevice('ropeBackward', { dx, positions, cos, sin });
      const a = ropeArgs('ropeBackward', dx, positions, cos, sin, { nHeads });
      c.cudaRopeBackward(dx.ptr, positions.ptr, cos.ptr, sin.ptr, a.T, nHeads, a.D, a.W, a.dt);
    },
    attentionForward(out, lse, qkv, cuSeqlens, shape) {
      const op = 'attentionForward';
      onDevice(op, { out, lse, qkv, cuSeqlens });
      const { T, dt } = checkAttention(op, qkv, shape, headDimOk);
      const { numDocs, maxSeqlen } = checkCuSeqlens(op, cuSeqlens, T);
      expectDtype(op, 'out', out, dt);
      expectMatrix(op, 'out', out, T, shape.nHeads * shape.headDim);
      expectDtype(op, 'lse', lse, DType.F32);
      expectLseShape(op, lse, shape.nHeads, T);
      c.cudaAttentionForward(out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, numDocs, maxSeqlen, T, shape.nHeads, shape.nKvHeads,
        shape.headDim, shape.scale, true, dt);
    },
    attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, shape) {
      const op = 'attentionBackward';
      onDevice(op, { dqkv, dout, out, lse, qkv, cuSeqlens });
      const { T, dt } = checkAttention(op, qkv, shape, headDimOk);
      const { numDocs, maxSeqlen } = checkCuSeqlens(op, cuSeqlens, T);
      for (const [name, t] of [['dout', dout], ['out', out]] as const) {
        expectDtype(op, name, t, dt);
        expectMatrix(op, name, t, T, shape.nHeads * shape.headDim);
      }
      expectDtype(op, 'dqkv', dqkv, dt);
      expectMatrix(op, 'dqkv', dqkv, T, qkv.shape[1]!);
      expectDtype(op, 'lse', lse, DType.F32);
      expectLseShape(op, lse, shape.nHeads, T);
      c.cudaAttentionBackward(dqkv.ptr, dout.ptr, out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, numDocs, maxSeqlen, T,
        shape.nHeads, shape.nKvHeads, shape.headDim, shape.scale, true, dt);
    },
    swigluForward(h, gu) {
      onDevice('swigluForward', { h, gu });
      const a = swigluForwardArgs(h, gu);
      c.cudaSwigluForward(h.ptr, gu.ptr, a.T, a.F, a.dt);
    },
    swigluBackward(dgu, dh, gu) {
      onDevice('swigluBackward', { dgu, dh, gu });
      const a = swigluBackwardArgs(dgu, dh, gu);
      c.cudaSwigluBackward(dgu.ptr, dh.ptr, gu.ptr, a.T, a.F, a.dt);
    },
    dropoutAddForward(out, resid, h, mask) {
      onDevice('dropoutAddForward', { out, resid, h, tokens: mask.tokens });
      const a = dropoutArgs('dropoutAddForward', [['out', out], ['resid', resid], ['h', h]], mask);
      c.cudaDropoutAddForward(out.ptr, resid.ptr, h.ptr, mask.tokens.ptr, a.keyHi, a.keyLo, a.threshold, a.scale, a.T, a.C, a.dt);
    },
    dropoutBackward(dh, dy, mask) {
      onDevice('dropoutBackward', { dh, dy, tokens: mask.tokens });
      const a = dropoutArgs('dropoutBackward', [['dh', dh], ['dy', dy]], mask);
      c.cudaDropoutBackward(dh.ptr, dy.ptr, mask.tokens.ptr, a.keyHi, a.keyLo, a.threshold, a.scale, a.T, a.C, a.dt);
    },
    crossEntropy(logits, targets, logitScale, gradScale, writeGrad) {
      onDevice('crossEntropy', { logits, targets });
      const a = crossEntropyArgs(logits, targets);
      const [lossSum, count, bad] = c.cudaCrossEntropy(logits.ptr, targets.ptr, a.T, a.V, logitScale, gradScale, writeGrad, a.dt);
      if (bad >= 0) {
        fail(a.op, `target ${targets.toInt32()[bad]} at row ${bad} is outside the vocabulary [0, ${a.V}) and is not ${IGNORE_INDEX}`);
      }
      return { lossSum, count };
    },
    cast(dst, src) {
      onDevice('cast', { dst, src });
      const a = castArgs(dst, src);
      c.cudaCast(dst.ptr, a.dstDt, src.ptr, a.srcDt, a.n);
    },
    sumSquares(x) {
      onDevice('sumSquares', { x });
      return c.cudaSumSquares(x.ptr, x.numel, floatDtype('sumSquares', 'x', x));
    },
    adamw(t, s) {
      onDevice('adamw', { ...t });
      const a = adamwArgs(t);
      c.cudaAdamwStep(t.master.ptr, t.paramCopy ? t.paramCopy.ptr : null, a.pdt, t.grad.ptr, a.gdt, t.expAvg.ptr, t.expAvgSq.ptr, a.n,
        s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, s.step, s.gradScale, s.adamWMode);
    },
    synchronize() {
      c.cudaSynchronize();
    },
  };
}

/**
 * Makes this process's GPU current: GPU `localRank`, the process's rank among its node's ranks, as
 * discoverRank (distributed/env.ts) reads it from LOCAL_RANK, SLURM_LOCALID or
 * OMPI_COMM_WORLD_LOCAL_RANK; a process that sees one GPU (srun --gpus-per-task=1, a one-GPU pod,
 * CUDA_VISIBLE_DEVICES per rank) uses that one. More local ranks than GPUs is an error.
 */
export function selectCudaDevice(localRank: number): number {
  const c = cudaAddon();
  const n = addon.buildInfo().cudaDevices;
  if (n < 1) throw new Error('selectCudaDevice: no GPU is visible');
  if (!Number.isInteger(localRank) || localRank < 0) throw new Error(`selectCudaDevice: the local rank must be a non-negative integer, got ${localRank}`);
  const device = n === 1 ? 0 : localRank;
  if (device >= n) {
    throw new Error(`selectCudaDevice: local rank ${localRank} but only ${n} GPUs are visible: set LOCAL_RANK to each rank's index on its node, or give each rank its own GPU (CUDA_VISIBLE_DEVICES)`);
  }
  c.cudaSetDevice(device);
  return device;
}
