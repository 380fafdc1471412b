// Host-side fp16 conversions (src/dist/fp16.ts) against PyTorch's float32 -> float16 cast:
// every result must be bit-identical (round to nearest even, subnormals, overflow to inf).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { f16ToF32, f32ToF16 } from '../../src/dist/fp16.js';

const PYTHON = '/usr/bin/python3';

describe('fp16 conversions', () => {
  it('match torch bit for bit on specials, ties, subnormals and random values', () => {
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} (with torch) is required for this reference check`);
    const bits = new Uint32Array(4096);
    let x = 12345;
    for (let i = 0; i < bits.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bits[i] = x;
    }
    // Specials and boundary cases: +-0, inf, nan, max half, overflow threshold, ties at 1.0,
    // smallest subnormal and its half, the normal/subnormal border.
    const f = new Float32Array(bits.buffer);
    const special = [0, -0, Infinity, -Infinity, 65504, 65519.99, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24,
      2 ** -25, 1.5 * 2 ** -25, 2 ** -14, 2 ** -14 - 2 ** -25, 0.1, -3.14159];
    special.forEach((v, i) => (f[i] = v));
    // Keep the random values mostly in fp16 range by squashing the exponent.
    for (let i = special.length; i < f.length; i++) if (!Number.isFinite(f[i]!) || Math.abs(f[i]!) > 1e5) f[i] = (bits[i]! % 100000) / 7;
    const script = 'import sys, torch, struct\n' +
      'v = torch.tensor([float(s) for s in sys.stdin.read().split()], dtype=torch.float32)\n' +
      'print(" ".join(str(int(b) & 0xffff) for b in v.half().view(torch.int16).tolist()))\n';
    const input = Array.from(f, (v) => (Object.is(v, -0) ? '-0.0' : v.toPrecision(9))).join(' ');
    const out = execFileSync(PYTHON, ['-c', script], { input, encoding: 'utf8' }).trim().split(' ').map(Number);
    // The decimal round trip to Python is exact for float32 at 9 significant digits.
    for (let i = 0; i < f.length; i++) {
      const ours = f32ToF16(f[i]!);
      if (ours !== out[i]) throw new Error(`f32ToF16(${f[i]}) = 0x${ours.toString(16)}, torch 0x${out[i]!.toString(16)}`);
      const back = f16ToF32(ours);
      expect(Object.is(Math.fround(back), back)).toBe(true);
    }
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });
});
