// Bus bandwidth of a collective, the nccl-tests convention (PERFORMANCE.md there): the
// algorithm bandwidth B / t (B = bytes of the full buffer: the all-reduced or broadcast buffer,
// the reduce-scatter input, the all-gather output) times a factor per op that makes it
// comparable with the link's speed, whatever the op and the number of ranks n:
//   allReduce 2(n-1)/n, reduceScatter (n-1)/n, allGather (n-1)/n, broadcast 1.
// Each side's bandwidth uses the factor of the op it actually ran: torch 1.13's gloo has no
// reduce_scatter, so its "reduceScatter" is an all_reduce and is rated as one.

export type CollectiveOp = 'allReduce' | 'reduceScatter' | 'allGather' | 'broadcast';

export const COLLECTIVE_OPS: readonly CollectiveOp[] = ['allReduce', 'reduceScatter', 'allGather', 'broadcast'];

/** The nccl-tests bus-bandwidth factor of `op` on `ranks` ranks. */
export function busFactor(op: CollectiveOp, ranks: number): number {
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`busFactor: ranks must be a positive integer, got ${ranks}`);
  switch (op) {
    case 'allReduce':
      return (2 * (ranks - 1)) / ranks;
    case 'reduceScatter':
    case 'allGather':
      return (ranks - 1) / ranks;
    case 'broadcast':
      return 1;
    default:
      throw new Error(`busFactor: unknown collective ${JSON.stringify(op)} (${COLLECTIVE_OPS.join(', ')})`);
  }
}

/** Bus bandwidth in GB/s (1e9 bytes/s) of `op` moving a `bytes` buffer over `ranks` ranks in `seconds`. */
export function busBandwidthGBps(op: CollectiveOp, ranks: number, bytes: number, seconds: number): number {
  return (busFactor(op, ranks) * bytes) / seconds / 1e9;
}
