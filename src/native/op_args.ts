// The argument rules of each op, shared by the CPU wrappers (kernels.ts) and the CUDA backend
// (cuda_backend.ts): each checks dtypes and shapes, throws one error naming the op and the
// argument at fault, and returns the sizes the native call takes.
import { expectDtype, expectInt32, expectMatrix, expectNumel, fail, firstOutside, floatDtype, matrix, shapeText } from './checks.js';
import type { AdamwTensors } from './backend.js';
import { DType, type Tensor } from './tensor.js';

/** embeddingForward: out [T, C], ids int32 [T], table [V, C]. */
export function embeddingForwardArgs(out: Tensor, ids: Tensor, table: Tensor) {
  const op = 'embeddingForward';
  const dt = floatDtype(op, 'table', table);
  expectDtype(op, 'out', out, dt);
  expectInt32(op, 'ids', ids);
  const [V, C] = matrix(op, 'table', table);
  expectMatrix(op, 'out', out, ids.numel, C);
  return { op, dt, T: ids.numel, C, V };
}

/** embeddingBackward: dtable [V, C] (grad dtype), ids int32 [T], dout [T, C]. */
export function embeddingBackwardArgs(dtable: Tensor, ids: Tensor, dout: Tensor) {
  const op = 'embeddingBackward';
  const gdt = floatDtype(op, 'dtable', dtable);
  const dt = floatDtype(op, 'dout', dout);
  expectInt32(op, 'ids', ids);
  const [V, C] = matrix(op, 'dtable', dtable);
  expectMatrix(op, 'dout', dout, ids.numel, C);
  return { op, dt, gdt, T: ids.numel, C, V };
}

/** rmsnormForward: y, x [T, C], w [C], rstd fp32 [T]. */
export function rmsnormForwardArgs(y: Tensor, rstd: Tensor, x: Tensor, w: Tensor) {
  const op = 'rmsnormForward';
  const dt = floatDtype(op, 'x', x);
  const [T, C] = matrix(op, 'x', x);
  expectDtype(op, 'y', y, dt);
  expectDtype(op, 'w', w, dt);
  expectMatrix(op, 'y', y, T, C);
  expectNumel(op, 'w', w, C, 'C');
  expectDtype(op, 'rstd', rstd, DType.F32);
  expectNumel(op, 'rstd', rstd, T, 'one per row');
  return { dt, T, C };
}

/** rmsnormBackward: dx, dy, x [T, C], w, dw [C] (dw in the grad dtype), rstd fp32 [T]. */
export function rmsnormBackwardArgs(dx: Tensor, dw: Tensor, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor) {
  const op = 'rmsnormBackward';
  const dt = floatDtype(op, 'x', x);
  const gdt = floatDtype(op, 'dw', dw);
  const [T, C] = matrix(op, 'x', x);
  for (const [name, t] of [['dx', dx], ['dy', dy]] as const) {
    expectDtype(op, name, t, dt);
    expectMatrix(op, name, t, T, C);
  }
  expectDtype(op, 'w', w, dt);
  expectNumel(op, 'w', w, C, 'C');
  expectNumel(op, 'dw', dw, C, 'C');
  expectDtype(op, 'rstd', rstd, DType.F32);
  expectNumel(op, 'rstd', rstd, T, 'one per row');
  return { dt, gdt, T, C };
}

/** x [T, In] and w [Out, In] (nn.Linear layout) of one dtype. */
function linearShapes(op: string, x: Tensor, w: Tensor) {
  const dt = floatDtype(op, 'x', x);
  const [T, In] = matrix(op, 'x', x);
  const [Out, wIn] = matrix(op, 'w', w);
  if (wIn !== In) fail(op, `w is ${shapeText(w)} but x has ${In} features (w must be [Out, In])`);
  expectDtype(op, 'w', w, dt);
  return { dt, T, In, Out };
}

/** linearForward: y [T, Out], x [T, In], w [Out, In], b [Out] or null. */
export function linearForwardArgs(y: Tensor, x: Tensor, w: Tensor, b: Tensor | null) {
  const op = 'linearForward';
  const s = linearShapes(op, x, w);
  expectDtype(op, 'y', y, s.dt);
  expectMatrix(op, 'y', y, s.T, s.Out);
  if (b) {
    expectDtype(op, 'b', b, s.dt);
    expectNumel(op, 'b', b, s.Out, 'Out');
  }
  return s;
}

/**
 * linearBackward: dx [T, In] or null, dw [Out, In] (null: a frozen weight, no dW GEMM) and db [Out]
 * or null in the grad dtype, dy [T, Out].
 */
export function linearBackwardArgs(dx: Tensor | null, dw: Tensor | null, db: Tensor | null, dy: Tensor, x: Tensor, w: Tensor) {
  const op = 'linearBackward';
  const s = linearShapes(op, x, w);
  const gdt = dw ? floatDtype(op, 'dw', dw) : db ? floatDtype(op, 'db', db) : s.dt;
  expectDtype(op, 'dy', dy, s.dt);
  expectMatrix(op, 'dy', dy, s.T, s.Out);
  if (dw) expectMatrix(op, 'dw', dw, s.Out, s.In);
  if (dx) {
    expectDtype(op, 'dx', dx, s.dt);
    expectMatrix(op, 'dx', dx, s.T, s.In);
  }
  if (db) {
    expectDtype(op, 'db', db, gdt);
    expectNumel(op, 'db', db, s.Out, 'Out');
  }
  return { ...s, gdt };
}

/** One LoRA adapter on output columns [col0, col0 + Out) of a [T, width] y: x [T, In], a [R, In], b [Out, R], u [T, R]. */
function loraShapes(op: string, y: Tensor | null, x: Tensor, a: Tensor, b: Tensor, u: Tensor, col0: number) {
  const dt = floatDtype(op, 'x', x);
  const [T, In] = matrix(op, 'x', x);
  const [R, aIn] = matrix(op, 'a', a);
  if (aIn !== In) fail(op, `a is ${shapeText(a)} but x has ${In} features (a must be [R, In])`);
  const [Out, bR] = matrix(op, 'b', b);
  if (bR !== R) fail(op, `b is ${shapeText(b)} but a has rank ${R} (b must be [Out, R])`);
  // no y (u alone): no output columns to check
  const [yT, width] = y ? matrix(op, 'y', y) : [T, col0 + Out];
  if (yT !== T) fail(op, `y has ${yT} rows but x has ${T}`);
  if (!Number.isInteger(col0) || col0 < 0 || col0 + Out > width) fail(op, `columns [${col0}, ${col0 + Out}) do not fit in y's ${width}`);
  if (y) expectDtype(op, 'y', y, dt);
  for (const [name, t] of [['a', a], ['b', b], ['u', u]] as const) expectDtype(op, name, t, dt);
  expectMatrix(op, 'u', u, T, R);
  return { dt, T, In, R, Out, width };
}

/** loraForward: u = scale x a^T, y[:, col0:col0+Out] += u b^T (y null: u alone). */
export function loraForwardArgs(y: Tensor | null, u: Tensor, x: Tensor, a: Tensor, b: Tensor, col0: number) {
  return loraShapes('loraForward', y, x, a, b, u, col0);
}

/** loraBackward: dy [T, width] as loraForward's y; ga [R, In], gb [Out, R] in the grad dtype; dx [T, In] or null. */
export function loraBackwardArgs(dx: Tensor | null, ga: Tensor, gb: Tensor, dy: Tensor, x: Tensor, u: Tensor, a: Tensor, b: Tensor, col0: number) {
  const op = 'loraBackward';
  const s = loraShapes(op, dy, x, a, b, u, col0);
  const gdt = floatDtype(op, 'ga', ga);
  expectDtype(op, 'gb', gb, gdt);
  expectMatrix(op, 'ga', ga, s.R, s.In);
  expectMatrix(op, 'gb', gb, s.Out, s.R);
  if (dx) {
    expectDtype(op, 'dx', dx, s.dt);
    expectMatrix(op, 'dx', dx, s.T, s.In);
  }
  return { ...s, gdt };
}

/** gu [T, 2F] rows = [gate | up]. */
function swigluShapes(op: string, gu: Tensor) {
  const dt = floatDtype(op, 'gu', gu);
  const [T, F2] = matrix(op, 'gu', gu);
  if (F2 % 2 !== 0) fail(op, `gu rows must hold gate and up halves, got odd width ${F2}`);
  return { dt, T, F: F2 / 2 };
}

/** swigluForward: h [T, F] from gu [T, 2F]. */
export function swigluForwardArgs(h: Tensor, gu: Tensor) {
  const op = 'swigluForward';
  const s = swigluShapes(op, gu);
  expectDtype(op, 'h', h, s.dt);
  expectMatrix(op, 'h', h, s.T, s.F);
  return s;
}

/** swigluBackward: dgu [T, 2F] from dh [T, F] and gu. */
export function swigluBackwardArgs(dgu: Tensor, dh: Tensor, gu: Tensor) {
  const op = 'swigluBackward';
  const s = swigluShapes(op, gu);
  expectDtype(op, 'dgu', dgu, s.dt);
  expectDtype(op, 'dh', dh, s.dt);
  expectMatrix(op, 'dgu', dgu, s.T, 2 * s.F);
  expectMatrix(op, 'dh', dh, s.T, s.F);
  return s;
}

/**
 * One dropout mask (native/src/dropout_hash.h): the 64-bit stream key of (seed, step, layer,
 * branch), the drop probability, and int32 [T, 2] (row, position in row) of every token.
 */
export interface DropoutMask {
  key: bigint;
  p: number;
  tokens: Tensor;
}

/** Drop threshold on 24 hash bits and the scale of kept values, as the native kernels take them. */
export function dropoutScalars(op: string, p: number): { threshold: number; scale: number } {
  if (!(p >= 0 && p < 1)) fail(op, `dropout probability must be in [0, 1), got ${p}`);
  return { threshold: Math.round(p * 2 ** 24), scale: 1 / (1 - p) };
}

/** dropoutAddForward (out = resid + mask * scale * h) and dropoutBackward (dh = mask * scale * dy): [T, C] tensors of one dtype. */
export function dropoutArgs(op: string, named: Array<[string, Tensor]>, mask: DropoutMask) {
  const [first, ...rest] = named;
  const dt = floatDtype(op, first![0], first![1]);
  const [T, C] = matrix(op, first![0], first![1]);
  for (const [name, t] of rest) {
    expectDtype(op, name, t, dt);
    expectMatrix(op, name, t, T, C);
  }
  expectInt32(op, 'tokens', mask.tokens);
  expectMatrix(op, 'tokens', mask.tokens, T, 2);
  if (mask.key < 0n || mask.key >= 1n << 64n) fail(op, `key must be a 64-bit unsigned integer, got ${mask.key}`);
  const keyHi = Number(mask.key >> 32n);
  const keyLo = Number(mask.key & 0xffffffffn);
  return { op, dt, T, C, keyHi, keyLo, ...dropoutScalars(op, mask.p) };
}

/** crossEntropy: logits [T, V], int32 targets [T]. */
export function crossEntropyArgs(logits: Tensor, targets: Tensor) {
  const op = 'crossEntropy';
  const dt = floatDtype(op, 'logits', logits);
  const [T, V] = matrix(op, 'logits', logits);
  expectInt32(op, 'targets', targets);
  expectNumel(op, 'targets', targets, T, 'one per row of logits');
  return { op, dt, T, V };
}

/** rope: which heads of each row of a [T, W] tensor rope rotates: nHeads heads of size D from column colOffset. */
export interface RopeHeads {
  nHeads: number;
  /** First column of the first rotated head (e.g. nh*D for the key heads of a fused qkv row). */
  colOffset?: number;
}

export function ropeArgs(op: string, x: Tensor, pos: Tensor, cos: Tensor, sin: Tensor, heads: RopeHeads) {
  const dt = floatDtype(op, 'x', x);
  const [T, W] = matrix(op, 'x', x);
  expectInt32(op, 'pos', pos);
  expectNumel(op, 'pos', pos, T, 'one per row of x');
  expectDtype(op, 'cos', cos, DType.F32);
  expectDtype(op, 'sin', sin, DType.F32);
  const [maxPos, half] = matrix(op, 'cos', cos);
  expectMatrix(op, 'sin', sin, maxPos, half);
  const D = 2 * half;
  const colOffset = heads.colOffset ?? 0;
  if (!Number.isInteger(heads.nHeads) || heads.nHeads < 0 || !Number.isInteger(colOffset) || colOffset < 0 ||
    colOffset + heads.nHeads * D > W) {
    fail(op, `${heads.nHeads} heads of size ${D} from column ${colOffset} do not fit rows of ${W} values`);
  }
  const bad = firstOutside(pos, 0, maxPos);
  if (bad) fail(op, `position ${bad[1]} at row ${bad[0]} is outside the rope table [0, ${maxPos})`);
  return { dt, T, W, D, colOffset, nHeads: heads.nHeads };
}

/** adamw: master, expAvg, expAvgSq fp32; grad any float dtype; paramCopy (16-bit) or null; one length. */
export function adamwArgs(t: AdamwTensors) {
  const op = 'adamw';
  const n = t.master.numel;
  for (const [name, x] of [['master', t.master], ['expAvg', t.expAvg], ['expAvgSq', t.expAvgSq]] as const) {
    expectDtype(op, name, x, DType.F32);
    expectNumel(op, name, x, n, 'as many as master');
  }
  const gdt = floatDtype(op, 'grad', t.grad);
  expectNumel(op, 'grad', t.grad, n, 'as many as master');
  let pdt = DType.F32;
  if (t.paramCopy) {
    pdt = floatDtype(op, 'paramCopy', t.paramCopy);
    if (pdt === DType.F32) fail(op, 'paramCopy is fp32; fp32 parameters are the master itself (pass null)');
    expectNumel(op, 'paramCopy', t.paramCopy, n, 'as many as master');
  }
  return { op, n, gdt, pdt };
}

/** copy: same element type and size. */
export function copyArgs(dst: Tensor, src: Tensor) {
  if (dst.bytes !== src.bytes || dst.type !== src.type) fail('copy', `size or type mismatch (${shapeText(dst)} vs ${shapeText(src)})`);
  return { bytes: dst.bytes };
}

/** cast: any float dtypes, one element count. */
export function castArgs(dst: Tensor, src: Tensor) {
  const op = 'cast';
  const dstDt = floatDtype(op, 'dst', dst);
  const srcDt = floatDtype(op, 'src', src);
  expectNumel(op, 'dst', dst, src.numel, 'as many as src');
  return { dstDt, srcDt, n: src.numel };
}

/** add: y = a + b, all one float dtype and size. */
export function addArgs(y: Tensor, a: Tensor, b: Tensor) {
  const op = 'add';
  const dt = floatDtype(op, 'y', y);
  expectDtype(op, 'a', a, dt);
  expectDtype(op, 'b', b, dt);
  expectNumel(op, 'a', a, y.numel, 'as many as y');
  expectNumel(op, 'b', b, y.numel, 'as many as y');
  return { dt, n: y.numel };
}
