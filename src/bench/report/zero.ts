// The bench:zero section: ZeRO stages against PyTorch DDP and ZeroRedundancyOptimizer.
import { atLeast, benchModel, eagerPeer, f, table, torchBuildText } from './format.js';
import { ratioOf, type Result } from './result.js';

/** A bench:zero side as the page names it: PyTorch sides with their recorded version and optimizer. */
function zeroSideLabel(r: Result, side: string): string {
  const torch = { 'pytorch ddp': 'DDP + AdamW', 'pytorch zero1': 'DDP + ZeroRedundancyOptimizer(AdamW)' }[side];
  if (torch) return `PyTorch ${r.str('peer.torch')} ${torch}`;
  if (side.startsWith('pytorch')) throw new Error(`${r.file}: unknown PyTorch side ${JSON.stringify(side)}`);
  return side;
}

/** The sides of bench:zero: both PyTorch peers and our four stages. */
const ZERO_SIDES = ['pytorch ddp', 'pytorch zero1', 'telechat-train zero0', 'telechat-train zero1', 'telechat-train zero2', 'telechat-train zero3'];

export function zeroSection(r: Result): string {
  const rows = r.get('rows');
  if (!Array.isArray(rows)) throw new Error(`${r.file}: rows must be an array`);
  // every side the targets name (stages 0-2 and 3 against DDP) and both peers, each once
  const sides = rows.map((_, i) => r.str(`rows.${i}.side`));
  for (const want of ZERO_SIDES) {
    const n = sides.filter((s) => s === want).length;
    if (n !== 1) throw new Error(`${r.file}: ${n === 0 ? 'no' : `${n}`} "${want}" row${n === 0 ? '' : 's'}; bench:zero writes one for each of ${ZERO_SIDES.join(', ')}`);
  }
  const ddp = sides.indexOf('pytorch ddp');
  const body = rows.map((_, i) => {
    const rss = r.nums(`rows.${i}.peak_rss_mb`);
    const perRound = r.nums(`rows.${i}.step_s_per_round`);
    return [zeroSideLabel(r, r.str(`rows.${i}.side`)), f(r.num(`rows.${i}.step_s`), 2), perRound.map((x) => f(x, 2)).join(', '), f(r.num(`rows.${i}.tokens_per_s`), 0),
      `x${atLeast(ratioOf(r, `rows.${i}.throughput_vs_ddp`, `rows.${i}.tokens_per_s`, `rows.${ddp}.tokens_per_s`))}`, rss.map((x) => f(x, 0)).join(' / ')];
  });
  return [
    `Training step (forward, backward, clipping 1.0, AdamW) of the bench model (${benchModel(r, 'batch')} tokens, global) split over ${r.num('ranks')} ranks x ` +
      `${r.num('threads_per_rank')} thread(s), fp32, every side started by telechat-launch on 127.0.0.1, against PyTorch ${r.str('peer.torch')} DDP and ` +
      `DDP + ZeroRedundancyOptimizer on the same model and batch. Timing: ${r.str('timing')}. Per-rank peak RSS is the largest over a side's launches.`,
    '',
    eagerPeer(r.str('peer.torch'), `${r.num('peer.threads_per_rank')} intra-op thread per rank`, torchBuildText(r, 'peer.build')) +
      ` Gradients: DistributedDataParallel over ${r.str('peer.backend')} with its defaults (25 MB buckets, all-reduce overlapped with backward).`,
    '',
    table(['side', 's/step (best)', 's/step per launch', 'tokens/s', 'vs DDP', 'peak RSS MB per rank'], body),
    '',
    'Targets: stages 0-2 >= 1.0x DDP throughput; stage 3 >= 0.8x with per-rank peak RSS below DDP\'s.',
  ].join('\n');
}
