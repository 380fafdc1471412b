// The bench:comm section: collectives against torch.distributed over gloo.
import { busBandwidthGBps, COLLECTIVE_OPS, type CollectiveOp } from '../busbw.js';
import { atLeast, f, table } from './format.js';
import type { Result } from './result.js';

interface CommRow {
  op: CollectiveOp;
  ours_ran: CollectiveOp;
  torch_ran: CollectiveOp;
  ranks: number;
  mb: number;
  bytes: number;
  ours_s: number;
  torch_s: number;
  // Rank 0's process per timed iteration.
  ours_minflt_per_op: number;
  torch_minflt_per_op: number;
  ours_cpu_ms_per_op: number;
  torch_cpu_ms_per_op: number;
}

const TORCH_NAME: Record<CollectiveOp, string> = { allReduce: 'all_reduce', reduceScatter: 'reduce_scatter', allGather: 'all_gather', broadcast: 'broadcast' };

export function commSection(r: Result): string {
  const rows = r.get('rows');
  if (!Array.isArray(rows)) throw new Error(`${r.file}: rows must be an array`);
  const body = rows.map((_, i) => {
    const k = (key: string) => `rows.${i}.${key}`;
    const op = (key: string): CollectiveOp => {
      const v = r.str(k(key));
      if (!(COLLECTIVE_OPS as readonly string[]).includes(v)) throw new Error(`${r.file}: ${k(key)} must be one of ${COLLECTIVE_OPS.join(', ')}, got ${JSON.stringify(v)}`);
      return v as CollectiveOp;
    };
    const x: CommRow = {
      op: op('op'), ours_ran: op('ours_ran'), torch_ran: op('torch_ran'), ranks: r.num(k('ranks')), mb: r.num(k('mb')), bytes: r.num(k('bytes')),
      ours_s: r.num(k('ours_s')), torch_s: r.num(k('torch_s')),
      ours_minflt_per_op: r.num(k('ours_minflt_per_op')), torch_minflt_per_op: r.num(k('torch_minflt_per_op')),
      ours_cpu_ms_per_op: r.num(k('ours_cpu_ms_per_op')), torch_cpu_ms_per_op: r.num(k('torch_cpu_ms_per_op')),
    };
    const torchRan = x.torch_ran === x.op ? TORCH_NAME[x.op] : `${TORCH_NAME[x.torch_ran]} (gloo has no ${TORCH_NAME[x.op]})`;
    return [x.op, String(x.ranks), String(x.mb), torchRan,
      f(busBandwidthGBps(x.ours_ran, x.ranks, x.bytes, x.ours_s)), f(busBandwidthGBps(x.torch_ran, x.ranks, x.bytes, x.torch_s)),
      atLeast(x.torch_s / x.ours_s),
      `${f(x.ours_minflt_per_op, 0)} / ${f(x.torch_minflt_per_op, 0)}`, `${f(x.ours_cpu_ms_per_op, 1)} / ${f(x.torch_cpu_ms_per_op, 1)}`];
  });
  return [
    `Our Gloo communicator vs torch.distributed's gloo backend, fp32 buffers of ${[...new Set(rows.map((_, i) => r.num(`rows.${i}.mb`)))].join(', ')} MB ` +
      `on ${[...new Set(rows.map((_, i) => r.num(`rows.${i}.ranks`)))].join(' and ')} ranks over 127.0.0.1, every rank a process ` +
      `started by telechat-launch. Timing: ${r.str('timing')}.`,
    '',
    `**Peer:** PyTorch ${r.str('peer.torch')} (torch.__version__ at run time) torch.distributed, backend ${r.str('peer.backend')}, ` +
      `${r.str('peer.threads')} intra-op thread(s) per rank (ours: ${r.str('ours_threads')}). Torch 1.13's gloo has no reduce_scatter: ` +
      'its reduceScatter row times the all_reduce of the full buffer that users fall back to, and is rated as the all_reduce it is.',
    '',
    table(['op', 'ranks', 'MB', 'torch ran', 'ours busbw GB/s', 'torch busbw GB/s', 'time ratio torch / ours', 'page faults/op ours / torch', 'CPU ms/op ours / torch'], body),
    '',
    'Bus bandwidth follows the nccl-tests convention: B / t (B = bytes of the full buffer: the all-reduced or broadcast buffer, ' +
      'the reduce-scatter input, the all-gather output) times the factor of the op the side actually ran, on n ranks: allReduce ' +
      '2(n-1)/n, reduceScatter and allGather (n-1)/n, broadcast 1. The time ratio is torch seconds / our seconds for the same ' +
      'result (for reduceScatter: every rank holding its reduced shard), > 1 = ours faster (target >= 0.9 at >= 16 MB; every row rounded down); on the ' +
      'reduceScatter rows it is therefore not the ratio of the two bus bandwidths.',
    '',
    'Page faults and CPU time (user + system, all threads) are per timed iteration of rank 0\'s process, barriers included, from ' +
      'the launch whose time is shown. On a shared machine the times move with other jobs\' load; these two move much less, so ' +
      'they show where a difference comes from (see "CPU collectives" in docs/distributed.md).',
  ].join('\n');
}
