// Medians of the benchmarks' repeated timings.

/** The median: the middle value, or the mean of the two middle ones for an even count. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The median of in-process step times after the first, the warm-up step (first-call allocations,
 * page faults, cold caches), which is not a step of the steady state being measured.
 */
export function medianAfterWarmup(xs: readonly number[]): number {
  if (xs.length < 2) throw new Error(`a median after the warm-up step needs at least 2 steps, got ${xs.length}`);
  return median(xs.slice(1));
}
