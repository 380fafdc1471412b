// Seeded inputs for tests: the same generator the random init uses (src/model/init.ts).
export { seededUniform as rng } from '../../src/model/init.js';

export function randInt(r: () => number, n: number): number {
  return Math.floor(r() * n);
}
