// IEEE fp16 <-> fp32 for host-side data (Node 20 has no Float16Array); round to nearest even,
// the same rule as native/src/comm/half.h.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // subnormal: value / 2^-24, rounded to nearest even
    const q = Math.abs(f32[0]!) / 2 ** -24;
    const fl = Math.floor(q);
    const r = q - fl;
    return sign | (r > 0.5 || (r === 0.5 && fl % 2 === 1) ? fl + 1 : fl);
  }
  let q = abs >>> 13;
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && q & 1)) q++;
  return sign | (q - ((127 - 15) << 10));
}

export function float32ToF16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

export function f16ArrayToFloat32(raw: Uint16Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = f16ToF32(raw[i]!);
  return out;
}
