// A small seeded PRNG (xoshiro128**, seeded through splitmix32) for data order: fast,
// deterministic across platforms, and independent streams per (seed, stream) pair.

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` and `stream` are any non-negative integers below 2^53. */
  constructor(seed: number, stream = 0) {
    const st = { s: 0 };
    // Mix both words of seed and stream into the splitmix state.
    for (const v of [seed % 2 ** 32, Math.floor(seed / 2 ** 32), stream % 2 ** 32, Math.floor(stream / 2 ** 32)]) {
      st.s = (st.s ^ v) | 0;
      splitmix32(st);
    }
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st) | 1; // never the all-zero state
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias (rejection sampling). */
  below(n: number): number {
    if (!(n > 0 && n <= 2 ** 32)) throw new RangeError(`Rng.below: n must be in (0, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
