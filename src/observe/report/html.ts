// report.html: one self-contained page (inline CSS and SVG, no script, no links) with the
// run's curves, a summary, the dataset's stats, the resolved config and one training row.
import { basename } from 'node:path';
import { MEMORY_CATEGORIES } from '../monitors.js';
import type { RunData, SampleRow } from './run_data.js';
import { esc, renderChart, type ChartSpec } from './svg.js';

const COLORS = { train: '#2563eb', eval: '#dc2626', lr: '#7c3aed', norm: '#ea580c', tps: '#059669', mfu: '#0891b2' };
const MEM_COLORS: Record<(typeof MEMORY_CATEGORIES)[number], string> = {
  params: '#2563eb',
  grads: '#f59e0b',
  master: '#10b981',
  optim: '#8b5cf6',
  activations: '#ef4444',
  buffers: '#64748b',
};

const num = (v: number): string => v.toLocaleString('en-US');
const short = (v: number): string => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a < 1e-3) return v.toExponential(1).replace('.0e', 'e');
  return String(+v.toPrecision(3));
};
const paramCount = (n: number): string => (n >= 1e9 ? `${+(n / 1e9).toPrecision(3)}B` : n >= 1e6 ? `${+(n / 1e6).toPrecision(3)}M` : num(n));
const BYTE_UNITS = [
  { name: 'bytes', bytes: 1 },
  { name: 'KiB', bytes: 2 ** 10 },
  { name: 'MiB', bytes: 2 ** 20 },
  { name: 'GiB', bytes: 2 ** 30 },
  { name: 'TiB', bytes: 2 ** 40 },
];
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h > 0 ? `${h}h ${m}m ${sec}s` : m > 0 ? `${m}m ${sec}s` : `${(+s.toPrecision(3)).toString()}s`;
}
const val = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Exponential moving average with TensorBoard's debiasing, weight chosen so the average spans
 * about `span` steps; gaps (null) are carried over without updating the average.
 */
export function smooth(points: [number, number | null][], span: number): [number, number | null][] {
  const w = 1 - 2 / (span + 1);
  let acc = 0;
  let n = 0;
  return points.map(([x, y]) => {
    if (y === null) return [x, null];
    acc = w * acc + (1 - w) * y;
    n++;
    return [x, acc / (1 - w ** n)];
  });
}

export function charts(d: RunData): ChartSpec[] {
  const m = d.metrics;
  const at = (f: (r: (typeof m)[number]) => number | null): [number, number | null][] => m.map((r) => [r.step, val(f(r))]);
  const train = at((r) => r.loss);
  const loss: ChartSpec = { id: 'loss', title: 'Loss', series: [], yFormat: short };
  // a noisy loss over many steps reads better as a faint raw line under a smoothed one
  if (train.length >= 50) loss.series.push({ name: 'train', color: COLORS.train, points: train, faint: true }, { name: 'train (smoothed)', color: COLORS.train, points: smooth(train, Math.max(5, Math.round(train.length / 50))) });
  else loss.series.push({ name: 'train', color: COLORS.train, points: train });
  if (d.evals.length) loss.series.push({ name: 'eval', color: COLORS.eval, points: d.evals.map((e) => [e.step, val(e.eval_loss)]), dots: true });
  const used = MEMORY_CATEGORIES.filter((c) => m.some((r) => (r.mem?.[c] ?? 0) > 0));
  // one binary unit for the whole chart, so its ticks are round numbers of that unit
  const peak = m.reduce((p, r) => Math.max(p, used.reduce((s, c) => s + (r.mem?.[c] ?? 0), 0)), 0);
  const unit = BYTE_UNITS.filter((u) => u.bytes <= Math.max(1, peak)).pop()!;
  return [
    loss,
    { id: 'lr', title: 'Learning rate', series: [{ name: 'lr', color: COLORS.lr, points: at((r) => r.lr) }], yFormat: short, zeroBased: true },
    { id: 'grad_norm', title: 'Gradient norm (before clipping)', series: [{ name: 'grad norm', color: COLORS.norm, points: at((r) => r.grad_norm) }], yFormat: short },
    { id: 'tokens_per_s', title: 'Throughput (tokens/s)', series: [{ name: 'tokens/s', color: COLORS.tps, points: at((r) => r.tokens_per_s) }], yFormat: short, zeroBased: true },
    { id: 'mfu', title: 'Model FLOPs utilisation (%)', series: [{ name: 'MFU', color: COLORS.mfu, points: at((r) => (r.mfu === null ? null : 100 * r.mfu)) }], yFormat: short, zeroBased: true },
    {
      id: 'memory',
      title: `Memory on rank 0 by category, stacked (${unit.name})`,
      series: used.map((c) => ({ name: c, color: MEM_COLORS[c], points: at((r) => (r.mem?.[c] ?? 0) / unit.bytes) })),
      yFormat: short,
      stacked: true,
    },
  ];
}

function table(rows: [string, string][]): string {
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

/** One line under the title: where the run stands. */
function headline(d: RunData): string {
  const last = d.metrics[d.metrics.length - 1];
  const total = d.run?.total_steps ?? null;
  const lastEval = d.evals[d.evals.length - 1];
  const parts = [
    d.finished ? 'finished' : 'in progress or stopped',
    `step ${last ? last.step : 0}${total !== null ? ` of ${total}` : ''}`,
  ];
  if (last && val(last.loss) !== null) parts.push(`loss ${last.loss.toFixed(4)}`);
  if (lastEval && val(lastEval.eval_loss) !== null) parts.push(`eval loss ${lastEval.eval_loss.toFixed(4)}`);
  if (d.run) parts.push(`${d.run.layout}, ${paramCount(d.run.parameters)} parameters${d.run.lora ? `, LoRA r ${d.run.lora.r}` : ''}, ${d.run.precision}, ZeRO ${d.run.zero_stage}, ${d.run.world_size} rank(s)`);
  return `<p class="headline">${esc(parts.join(' · '))}</p>`;
}

function summary(d: RunData): string {
  const cfg = d.config as { run?: { world_size?: number; precision?: string; total_steps?: number | null }; zero_optimization?: { stage?: number }; train_batch_size?: number } | null;
  const last = d.metrics[d.metrics.length - 1];
  const total = d.run?.total_steps ?? cfg?.run?.total_steps ?? null;
  const tokens = d.metrics.reduce((s, r) => s + (r.tokens ?? 0), 0);
  const seconds = d.metrics.reduce((s, r) => s + (r.step_time_s ?? 0), 0);
  const losses = d.metrics.map((r) => val(r.loss)).filter((v): v is number => v !== null);
  const lastEval = d.evals[d.evals.length - 1];
  const skipped = d.metrics.filter((r) => r.skipped).length;
  const status = d.finished
    ? 'finished'
    : `in progress or stopped${d.lastUpdate ? ` (metrics last written ${new Date(d.lastUpdate).toISOString().replace('T', ' ').slice(0, 19)} UTC)` : ''}`;
  const rows: [string, string][] = [
    ['Status', status],
    ['Model', d.run ? `${d.run.layout}, ${num(d.run.parameters)} parameters` : 'unknown'],
    ...(d.run?.lora ? [['LoRA', `r ${d.run.lora.r}, alpha ${d.run.lora.alpha} on ${d.run.lora.target_modules.join(', ')}: ${num(d.run.lora.trainable_parameters)} trainable parameters over the frozen base`] as [string, string]] : []),
    ['Precision', d.run?.precision ?? cfg?.run?.precision ?? 'unknown'],
    ['ZeRO stage', String(d.run?.zero_stage ?? cfg?.zero_optimization?.stage ?? 'unknown')],
    ['Ranks', d.run ? `${d.run.world_size} (${d.run.device})` : String(cfg?.run?.world_size ?? 'unknown')],
    ['Global batch', String(d.run?.train_batch_size ?? cfg?.train_batch_size ?? 'unknown') + ' rows'],
    ['Steps', `${last ? last.step : 0}${total !== null ? ` of ${total}` : ''}${skipped ? ` (${skipped} skipped)` : ''}`],
    ['Tokens', num(tokens)],
    ['Training time', `${duration(seconds)} (sum of step times)`],
    ['Loss', losses.length ? `${losses[0]!.toFixed(4)} → ${losses[losses.length - 1]!.toFixed(4)} (best ${losses.reduce((a, b) => Math.min(a, b)).toFixed(4)})` : '–'],
    ['Eval loss', lastEval ? `${val(lastEval.eval_loss)?.toFixed(4) ?? 'n/a'} at step ${lastEval.step}` : 'no evaluation'],
  ];
  if (d.run) rows.push(['Segment started', `${d.run.started_at.replace('T', ' ').slice(0, 19)} UTC after step ${d.run.start_step}`]);
  return table(rows);
}

function dataset(d: RunData): string {
  const m = d.manifest;
  if (!m) return '<p class="muted">dataset not available</p>';
  const kv = table([
    ['Directory', d.run?.dataset_dir ?? ''],
    ['Rows', `${num(m.rows)} (${m.packed ? 'packed' : 'one conversation per row'}, ${num(m.documents)} conversations)`],
    ['Tokens', num(m.tokens)],
    ['Loss tokens', `${num(m.loss_tokens)} (${((100 * m.loss_tokens) / Math.max(1, m.tokens)).toFixed(1)}%, loss on ${m.loss_on} answers)`],
    ['Packing efficiency', `${(100 * m.packing_efficiency).toFixed(2)}% of ${num(m.rows)} × ${m.max_seq_len} tokens`],
    ['Template', `${m.template} (tokenizer ${m.tokenizer.kind}, ${num(m.tokenizer.vocab_size)} pieces)`],
  ]);
  const head = '<tr><th>source</th><th>weight</th><th>read</th><th>kept</th><th>truncated</th><th>dropped</th><th>skipped</th><th>tokens</th><th>loss tokens</th></tr>';
  const body = Object.entries(m.sources)
    .map(([name, s]) => {
      const skipped = Object.values(s.skipped).reduce((a, b) => a + (b ?? 0), 0);
      const cells = [s.weight, s.conversations, s.kept, s.truncated, s.dropped, skipped, s.tokens, s.loss_tokens].map((v) => `<td>${num(v)}</td>`).join('');
      return `<tr><th>${esc(basename(name))}</th>${cells}</tr>`;
    })
    .join('');
  return `${kv}<div class="scroll"><table class="grid">${head}${body}</table></div>`;
}

function sampleRow(s: SampleRow | null): string {
  if (!s) return '<p class="muted">no row available</p>';
  const docs = s.documents
    .map((doc, i) => {
      const text = doc.map((p) => (p.loss ? `<mark>${esc(p.text)}</mark>` : p.special ? `<span class="sp">${esc(p.text)}</span>` : esc(p.text))).join('');
      return `<div class="doc"><div class="muted">document ${i + 1}</div><pre>${text}</pre></div>`;
    })
    .join('');
  return `<p>Row ${s.index}: ${num(s.tokens)} tokens, ${num(s.lossTokens)} with loss (<mark>highlighted</mark>); special tokens <span class="sp">boxed</span>.</p>${docs}`;
}

const CSS = `
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f3f4f6}
body{margin:0 auto;max-width:1400px;padding:16px}
h1{font-size:1.4rem;margin:0 0 4px}h2{font-size:1.1rem;margin:24px 0 8px}
.muted{color:#6b7280;font-size:.85rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:12px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin:0;padding:10px}
figcaption{font-weight:600;font-size:.95rem;display:flex;flex-wrap:wrap;gap:8px;justify-content:space-between}
.legend{font-weight:400;font-size:.8rem;display:flex;gap:10px;flex-wrap:wrap}
.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
svg.chart{width:100%;height:auto;display:block}
.grid line,line.grid{stroke:#e5e7eb;stroke-width:1}
line.axis{stroke:#9ca3af;stroke-width:1}
text.tick{font-size:11px;fill:#4b5563}text.empty{font-size:14px;fill:#9ca3af}
polyline.series{fill:none;stroke-width:1.5;stroke-linejoin:round;vector-effect:non-scaling-stroke}
polyline.faint{opacity:.3}
polygon.area{stroke:none;opacity:.85}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px}
table{border-collapse:collapse;font-size:.9rem;width:100%}
table.kv th{text-align:left;font-weight:500;color:#4b5563;padding:3px 12px 3px 0;white-space:nowrap;vertical-align:top}
table.kv td{padding:3px 0;word-break:break-word}
table.grid th,table.grid td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:right}
table.grid th:first-child{text-align:left}
.scroll{overflow-x:auto;margin-top:8px}
details>summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;font-size:.85rem;background:#fff;padding:8px;border-radius:6px;margin:4px 0}
mark{background:#bbf7d0;color:inherit;border-radius:2px}
.sp{border:1px solid #9ca3af;border-radius:3px;font-size:.8em;padding:0 2px;color:#374151}
.notes{color:#92400e;font-size:.85rem}
.headline{margin:0 0 4px;font-size:1rem}
text.xlabel{font-size:11px;fill:#6b7280}
@media (max-width:700px){body{padding:8px}text.tick,text.xlabel{font-size:17px}}
`;

export function renderReport(d: RunData, now: Date = new Date()): string {
  const title = `telechat-train report: ${d.outDir}`;
  const notes = d.notes.length ? `<ul class="notes">${d.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  const config = d.config ? `<details><summary>Resolved config</summary><pre>${esc(JSON.stringify(d.config, null, 2))}</pre></details>` : '<p class="muted">resolved-config.json not found</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>Training report</h1>${headline(d)}<div class="muted">${esc(d.outDir)} · generated ${esc(now.toISOString().replace('T', ' ').slice(0, 19))} UTC</div>${notes}
<h2>Curves</h2><div class="charts">${charts(d).map(renderChart).join('\n')}</div>
<div class="cols"><section><h2>Run</h2>${summary(d)}</section><section><h2>Dataset</h2>${dataset(d)}</section></div>
<h2>Config</h2>${config}
<h2>A training row</h2>${sampleRow(d.sample)}
</body></html>
`;
}
