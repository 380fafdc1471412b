// The bench:core section: forward + backward against PyTorch.
import { atLeast, atMost, benchModel, eagerPeer, f, table, torchBuildText } from './format.js';
import { ratioOf, type Result } from './result.js';

export function coreSection(r: Result): string {
  const rounds = (key: string) => r.nums(`${key}.step_s_per_round`).map((x) => f(x, 3)).join(', ');
  const rows = [
    ['telechat-train', f(r.num('ours.tokens_per_s'), 0), f(r.num('ours.step_s'), 3), rounds('ours'), f(r.num('ours.peak_rss_mb'), 0), f(r.num('ours.gflops'), 1)],
    [`PyTorch ${r.str('torch.torch')} eager`, f(r.num('torch.tokens_per_s'), 0), f(r.num('torch.step_s'), 3), rounds('torch'), f(r.num('torch.peak_rss_mb'), 0), ''],
  ];
  return [
    `Forward + backward of the bench model (${benchModel(r, 'shape')}, fp32, ` +
      `${r.num('machine.threads')} threads each side). Timing: ${r.str('timing')}; the sides alternate (order swapped every ` +
      'round). Peak RSS is the largest over a side\'s launches.',
    '',
    eagerPeer(r.str('torch.torch'), `${r.num('torch.threads')} intra-op thread(s)`, torchBuildText(r, 'torch.build')),
    '',
    table(['side', 'tokens/s', 's/step (best)', 's/step per launch', 'peak RSS MB', 'GFLOP/s'], rows),
    '',
    `Throughput x${atLeast(ratioOf(r, 'ratios.throughput_vs_torch', 'ours.tokens_per_s', 'torch.tokens_per_s'))} PyTorch (target >= 1.5), ` +
      `peak RSS x${atMost(ratioOf(r, 'ratios.peak_rss_vs_torch', 'ours.peak_rss_mb', 'torch.peak_rss_mb'))} (target <= 0.6), ` +
      `${atLeast(100 * ratioOf(r, 'ratios.fraction_of_sgemm', 'ours.gflops', 'ours.sgemm_gflops'), 1)}% of the measured sgemm ${f(r.num('ours.sgemm_gflops'), 1)} GFLOP/s (target >= 60%).`,
  ].join('\n');
}
