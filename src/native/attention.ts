// Causal attention inside packed documents (native/src/cpu/attention.cc), with the shape,
// dtype and cu_seqlens checks the raw addon leaves to us.
//
// qkv: [T, (nHeads + 2 * nKvHeads) * headDim], each row holding the query heads, then the
// key heads, then the value heads. Query head h attends with kv head h / (nHeads / nKvHeads),
// only to earlier-or-same tokens of its own document (cuSeqlens: int32 [docs + 1], 0 .. T).
import { addon } from './addon.js';
import { DType, INT32, Tensor, dtypeName } from './tensor.js';

export interface AttentionOptions {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Softmax scale applied to q.k, usually 1 / sqrt(headDim). */
  scale: number;
}

interface Checked {
  T: number;
  numDocs: number;
  dt: DType;
}

function fail(op: string, what: string): never {
  throw new Error(`${op}: ${what}`);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function expectShape(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    fail(op, `${name} has shape ${shapeText(t.shape)}, expected ${shapeText(shape)}`);
  }
}

function expectDtype(op: string, name: string, t: Tensor, dt: DType): void {
  if (t.type !== dt) {
    const got = t.type === INT32 ? 'int32' : dtypeName(t.type);
    fail(op, `${name} is ${got}, expected ${dtypeName(dt)}`);
  }
}

/** Validates options, qkv and cu_seqlens (contents read back: it is a small int32 tensor). */
function checkCommon(op: string, qkv: Tensor, cuSeqlens: Tensor, opts: AttentionOptions): Checked {
  const { nHeads, nKvHeads, headDim, scale } = opts;
  for (const [key, v] of [['nHeads', nHeads], ['nKvHeads', nKvHeads], ['headDim', headDim]] as const) {
    if (!Number.isInteger(v) || v <= 0) fail(op, `${key} must be a positive integer, got ${v}`);
  }
  if (nHeads % nKvHeads !== 0) fail(op, `nHeads (${nHeads}) is not a multiple of nKvHeads (${nKvHeads})`);
  if (!Number.isFinite(scale)) fail(op, `scale must be finite, got ${scale}`);
  if (qkv.type === INT32) fail(op, 'qkv is int32, expected fp32, bf16 or fp16');
  const row = (nHeads + 2 * nKvHeads) * headDim;
  if (qkv.shape.length !== 2 || qkv.shape[1] !== row) {
    fail(op, `qkv has shape ${shapeText(qkv.shape)}, expected [T, ${row}] = [T, (nHeads + 2 * nKvHeads) * headDim]`);
  }
  const T = qkv.shape[0]!;
  if (cuSeqlens.type !== INT32) fail(op, `cuSeqlens must be int32, got ${dtypeName(cuSeqlens.type)}`);
  if (cuSeqlens.shape.length !== 1 || cuSeqlens.shape[0]! < 2) {
    fail(op, `cuSeqlens has shape ${shapeText(cuSeqlens.shape)}, expected [numDocs + 1] with numDocs >= 1`);
  }
  const cu = cuSeqlens.toInt32();
  if (cu[0] !== 0) fail(op, `cuSeqlens[0] is ${cu[0]}, expected 0`);
  for (let i = 1; i < cu.length; i++) {
    if (cu[i]! < cu[i - 1]!) fail(op, `cuSeqlens decreases at index ${i} (${cu[i - 1]} -> ${cu[i]})`);
  }
  if (cu[cu.length - 1] !== T) fail(op, `cuSeqlens ends at ${cu[cu.length - 1]}, expected T = ${T} (rows of qkv)`);
  return { T, numDocs: cu.length - 1, dt: qkv.type };
}

/** out [T, nHeads * headDim] (qkv's dtype) and lse [nHeads, T] fp32 from qkv. */
export function attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, cuSeqlens: Tensor, opts: AttentionOptions): void {
  const op = 'attentionForward';
  const { T, numDocs, dt } = checkCommon(op, qkv, cuSeqlens, opts);
  const { nHeads, nKvHeads, headDim, scale } = opts;
  expectDtype(op, 'out', out, dt);
  expectShape(op, 'out', out, [T, nHeads * headDim]);
  expectDtype(op, 'lse', lse, DType.F32);
  expectShape(op, 'lse', lse, [nHeads, T]);
  addon.attentionForward(out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, numDocs, T, nHeads, nKvHeads, headDim, scale, dt);
}

/**
 * dqkv (overwritten, qkv's layout and dtype) from dout, given the forward's qkv, out and lse.
 */
export function attentionBackward(
  dqkv: Tensor,
  dout: Tensor,
  out: Tensor,
  lse: Tensor,
  qkv: Tensor,
  cuSeqlens: Tensor,
  opts: AttentionOptions,
): void {
  const op = 'attentionBackward';
  const { T, numDocs, dt } = checkCommon(op, qkv, cuSeqlens, opts);
  const { nHeads, nKvHeads, headDim, scale } = opts;
  expectDtype(op, 'dqkv', dqkv, dt);
  expectShape(op, 'dqkv', dqkv, qkv.shape);
  for (const [name, t] of [['dout', dout], ['out', out]] as const) {
    expectDtype(op, name, t, dt);
    expectShape(op, name, t, [T, nHeads * headDim]);
  }
  expectDtype(op, 'lse', lse, DType.F32);
  expectShape(op, 'lse', lse, [nHeads, T]);
  addon.attentionBackward(dqkv.ptr, dout.ptr, out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, numDocs, T, nHeads, nKvHeads,
    headDim, scale, dt);
}
