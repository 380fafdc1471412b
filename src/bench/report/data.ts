// The bench:data section: dataset build against Python sentencepiece.
import { atLeast, f, table } from './format.js';
import { ratioOf, type Result } from './result.js';

export function dataSection(r: Result): string {
  const groups = r.get('by_threads');
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${r.file}: by_threads must be a non-empty array`);
  const body: string[][] = [];
  const ratios: string[] = [];
  groups.forEach((_, i) => {
    const k = (key: string) => `by_threads.${i}.${key}`;
    const threads = r.num(k('threads'));
    const side = (label: string, key: string) => [String(threads), label, f(r.num(k(`${key}.tokens_per_s`)) / 1e6), f(r.num(k(`${key}.seconds`)), 1),
      r.nums(k(`${key}.seconds_per_round`)).map((x) => f(x, 1)).join(', '), f(r.num(k(`${key}.cpu_s`)), 1), f(r.num(k(`${key}.max_rss_mb`)), 0)];
    body.push(side('telechat-data build', 'ours'), side(`Python sentencepiece ${r.str('peer.sentencepiece')}`, 'python_sentencepiece'));
    ratios.push(`${threads} thread(s) x${atLeast(ratioOf(r, k('ratio_tokens_per_s'), k('python_sentencepiece.seconds'), k('ours.seconds')))}`);
  });
  return [
    `\`telechat-data build\` of a generated ${r.num('input_mb')} MB jsonl vs a Python baseline that parses the same lines and ` +
      `encodes the same texts (${r.num('tokens').toLocaleString('en-US')} tokens on both sides), at each thread count. Timing: ${r.str('timing')}.`,
    '',
    `**Peer:** Python sentencepiece ${r.str('peer.sentencepiece')} (its __version__ at run time), scripts/reference/encode_baseline.py: ` +
      'json.loads per line on the one Python thread, then SentencePieceProcessor.encode(texts of 512 lines, num_threads=N). Ours: ' +
      'OMP_NUM_THREADS=N for the native encoder (OpenMP over texts) on a worker thread while the main thread parses the next ' +
      'batch, so at N threads ours also runs one parsing thread beside them; its CPU seconds show what that costs.',
    '',
    table(['threads', 'side', 'M tokens/s', 'seconds (best)', 'seconds per round', 'CPU s', 'peak RSS MB'], body),
    '',
    `Ratio (Python seconds / ours): ${ratios.join(', ')} (target ${r.str('targets.ratio')}); peak RSS target ${r.str('targets.max_rss_mb')} MB.`,
  ].join('\n');
}
