// Best-fit packing of documents into rows of at most `capacity` tokens. Documents are buffered
// up to a token budget, then placed largest first, each into the open row whose free space
// fits it most tightly (a new row when none fits): best-fit decreasing. Rows that come out
// poorly filled are carried into the next round instead of being emitted, so only the very
// end of the stream leaves partly empty rows. Nothing is dropped or cut: every document lands
// whole in exactly one row.
import type { Piece } from './encode.js';

export interface PackedRow {
  docs: Piece[];
  tokens: number;
}

/** Open rows indexed by free space, so "tightest row with free >= n" is O(log capacity). */
class FreeSpaceIndex {
  private readonly size: number;
  private readonly tree: Int32Array; // counts of open rows per free-space value, as a segment tree
  private readonly stacks = new Map<number, number[]>(); // free space -> open rows (made lazily)

  constructor(readonly capacity: number) {
    let size = 1;
    while (size < capacity + 1) size *= 2;
    this.size = size;
    this.tree = new Int32Array(2 * size);
  }

  push(free: number, row: number): void {
    let stack = this.stacks.get(free);
    if (!stack) this.stacks.set(free, (stack = []));
    stack.push(row);
    for (let i = free + this.size; i >= 1; i >>= 1) this.tree[i]!++;
  }

  /** Removes and returns a row with the smallest free space >= need, or -1. */
  popTightest(need: number): number {
    const free = this.firstAtLeast(need);
    if (free < 0) return -1;
    for (let i = free + this.size; i >= 1; i >>= 1) this.tree[i]!--;
    return this.stacks.get(free)!.pop()!;
  }

  private firstAtLeast(need: number): number {
    // Walk the tree: leftmost non-empty leaf with index >= need.
    const search = (node: number, lo: number, hi: number): number => {
      if (hi < need || this.tree[node] === 0) return -1;
      if (lo === hi) return lo;
      const mid = (lo + hi) >> 1;
      const left = search(2 * node, lo, mid);
      return left >= 0 ? left : search(2 * node + 1, mid + 1, hi);
    };
    return search(1, 0, this.size - 1);
  }
}

export class BestFitPacker {
  private pending: Piece[] = [];
  private pendingTokens = 0;

  /**
   * @param capacity      max tokens per row (max_seq_len)
   * @param emit          receives each finished row
   * @param bufferTokens  tokens buffered before a packing round (bounds memory)
   * @param minFill       rows filled below this fraction are carried to the next round
   */
  constructor(
    readonly capacity: number,
    private readonly emit: (row: PackedRow) => void,
    private readonly bufferTokens = Math.max(1 << 20, Math.min(64 * capacity, 1 << 24)),
    private readonly minFill = 0.98,
  ) {}

  add(doc: Piece): void {
    const n = doc.ids.length;
    if (n === 0 || n > this.capacity) throw new Error(`packer: document of ${n} tokens does not fit rows of ${this.capacity}`);
    this.pending.push(doc);
    this.pendingTokens += n;
    if (this.pendingTokens >= this.bufferTokens) this.round(false);
  }

  /** Packs and emits everything left. */
  finish(): void {
    this.round(true);
  }

  private round(final: boolean): void {
    // Largest first; ties keep arrival order (stable sort), so output is deterministic.
    const docs = this.pending.sort((a, b) => b.ids.length - a.ids.length);
    this.pending = [];
    this.pendingTokens = 0;
    const rows: PackedRow[] = [];
    const index = new FreeSpaceIndex(this.capacity);
    for (const doc of docs) {
      const n = doc.ids.length;
      let r = index.popTightest(n);
      if (r < 0) {
        r = rows.length;
        rows.push({ docs: [], tokens: 0 });
      }
      const row = rows[r]!;
      row.docs.push(doc);
      row.tokens += n;
      index.push(this.capacity - row.tokens, r);
    }
    // Carry poorly filled rows into the next round, but never more than half the buffer, so
    // memory stays bounded whatever the length distribution.
    let carryBudget = final ? 0 : this.bufferTokens / 2;
    for (const row of rows) {
      if (!final && row.tokens < this.minFill * this.capacity && row.tokens <= carryBudget) {
        carryBudget -= row.tokens;
        for (const d of row.docs) {
          this.pending.push(d);
          this.pendingTokens += d.ids.length;
        }
      } else {
        this.emit(row);
      }
    }
  }
}
