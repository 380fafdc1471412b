// Error measures used by parity tests.
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** fp32 parity rule: max abs error <= 1e-5, or <= 1e-4 relative to the tensor's largest value. */
export function fp32Close(ours: ArrayLike<number>, ref: ArrayLike<number>): { ok: boolean; abs: number; rel: number } {
  const abs = maxAbsDiff(ours, ref);
  const rel = abs / Math.max(maxAbs(ref), 1e-30);
  return { ok: abs <= 1e-5 || rel <= 1e-4, abs, rel };
}

/** ||a - b|| / ||b|| (relative RMS error). */
export function relRms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
