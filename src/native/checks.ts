// Argument checks shared by the backends' typed wrappers: each throws one error naming the
// op and the argument at fault, before any native call.
import { DType, INT32, Tensor, dtypeName, type Device } from './tensor.js';

export function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

export function shapeText(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

export function typeText(t: Tensor): string {
  return t.type === INT32 ? 'int32' : dtypeName(t.type);
}

/** The float dtype of `t`, or an error naming the argument when it is an int32 tensor. */
export function floatDtype(op: string, name: string, t: Tensor): DType {
  if (t.type === INT32) fail(op, `${name} must be fp32, bf16 or fp16, got int32`);
  return t.type;
}

export function expectDtype(op: string, name: string, t: Tensor, dt: DType): void {
  if (t.type !== dt) fail(op, `${name} must be ${dtypeName(dt)}, got ${typeText(t)}`);
}

export function expectInt32(op: string, name: string, t: Tensor): void {
  if (t.type !== INT32) fail(op, `${name} must be int32, got ${typeText(t)}`);
}

/** [rows, cols] of a tensor with at least 2 dims (rows = product of all but the last dim). */
export function matrix(op: string, name: string, t: Tensor): [number, number] {
  if (t.shape.length < 2) fail(op, `${name} must have at least 2 dims, got shape ${shapeText(t)}`);
  const cols = t.shape[t.shape.length - 1]!;
  return [cols === 0 ? 0 : t.numel / cols, cols];
}

export function expectMatrix(op: string, name: string, t: Tensor, rows: number, cols: number): void {
  const [r, c] = matrix(op, name, t);
  if (r !== rows || c !== cols) fail(op, `${name} must be [${rows}, ${cols}], got shape ${shapeText(t)}`);
}

export function expectNumel(op: string, name: string, t: Tensor, n: number, what: string): void {
  if (t.numel !== n) fail(op, `${name} must have ${n} elements (${what}), got shape ${shapeText(t)}`);
}

/** First element of `ids` outside [lo, hi) as [index, value], or null. */
export function firstOutside(ids: Tensor, lo: number, hi: number, allowed?: number): [number, number] | null {
  const values = ids.toInt32();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((v < lo || v >= hi) && v !== allowed) return [i, v];
  }
  return null;
}

/** Every listed tensor (nulls skipped) must live on `device`: a backend computes on its own memory only. */
export function expectDevice(op: string, device: Device, named: Record<string, Tensor | null>): void {
  for (const [name, t] of Object.entries(named)) {
    if (t && t.device !== device) fail(op, `${name} is a ${t.device} tensor; the ${device} backend needs ${device} tensors`);
  }
}
