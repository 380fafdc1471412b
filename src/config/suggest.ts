// "Did you mean ...?" for unknown keys: the valid key with the smallest edit distance.

/** Levenshtein distance (insert, delete, substitute each cost 1), two-row DP. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, prev[j]! + 1, cur[j - 1]! + 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate closest to `word` (ties: first in the list); null when there are none. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

/**
 * The closest candidate when it is a near miss of `word` (a typo), else null: "tensor_parallel"
 * is not a typo of "tensorboard", nor "cosine_with_restarts" of "cosine".
 */
export function nearMiss(word: string, candidates: readonly string[]): string | null {
  const c = closest(word, candidates);
  return c !== null && editDistance(word, c) <= Math.max(2, Math.floor(word.length / 4)) ? c : null;
}
