// The bench:export section: GGUF export speed and memory.
import { atMost, f, table } from './format.js';
import { type Json, ratioOf, type Result } from './result.js';

export function exportSection(r: Result): string {
  const runs = r.get('runs');
  if (!Array.isArray(runs) || runs.length === 0) throw new Error(`${r.file}: runs must be a non-empty array`);
  const body = runs.map((_, i) => {
    const k = (key: string) => `runs.${i}.${key}`;
    return [String(r.num(k('layers'))), r.str(k('dtype')), f(r.num(k('model_mb')), 1), f(r.num(k('out_mb')), 1), f(r.num(k('seconds')), 2),
      f(r.num(k('in_mb_per_s')), 0), f(r.num(k('max_rss_mb')), 0)];
  });
  // the growth of each dtype's peak RSS from the fewest blocks to the most, checked against its runs
  const byLayers = (dtype: string) => runs.map((_, i) => i).filter((i) => r.str(`runs.${i}.dtype`) === dtype)
    .sort((a, b) => r.num(`runs.${a}.layers`) - r.num(`runs.${b}.layers`));
  const growth = Object.keys(r.get('rss_ratio') as Json).map((dtype) => {
    const idx = byLayers(dtype);
    if (idx.length < 2) throw new Error(`${r.file}: rss_ratio.${dtype} needs runs of two depths in ${dtype}, found ${idx.length}`);
    const x = ratioOf(r, `rss_ratio.${dtype}`, `runs.${idx.at(-1)}.max_rss_mb`, `runs.${idx[0]}.max_rss_mb`);
    return `x${atMost(x)} (${dtype})`;
  }).join(', ');
  const model = byLayers(r.str('runs.0.dtype'));
  const modelGrowth = ratioOf(r, 'model_size_ratio', `runs.${model.at(-1)}.model_mb`, `runs.${model[0]}.model_mb`);
  return [
    `\`telechat-export --model DIR --format gguf\` of generated TeleChat2-shaped fp16 HF dirs (hidden ${r.num('hidden')}) that differ only ` +
      'in depth; one process per export, its wall time and peak RSS. There is no peer: the point is that memory stays flat.',
    '',
    table(['blocks', 'dtype', 'HF MB', 'GGUF MB', 'seconds', 'MB/s read', 'peak RSS MB'], body),
    '',
    `Model x${f(modelGrowth)} larger -> peak RSS ${growth} (target: RSS does not grow with the model).`,
  ].join('\n');
}
