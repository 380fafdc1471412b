// Charts as inline SVG: one <svg class="chart"> per chart, one <polyline> (lines) or
// <polygon> (stacked areas) per series with one point per logged step, axes with a few
// ticks. No script: the page reads the same without JavaScript, and nothing is fetched.

export interface Series {
  name: string;
  color: string;
  /** [x, y]; a non-finite y (NaN, null in JSON) breaks the line there. */
  points: [number, number | null][];
  /** Draw a dot at every point (few points, e.g. evaluations). */
  dots?: boolean;
  /** Drawn faint, under a smoothed copy of it. */
  faint?: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  series: Series[];
  /** Formats a y tick value. */
  yFormat: (v: number) => string;
  /** Stack the series as filled areas (memory by category). */
  stacked?: boolean;
  /** Include 0 in the y range. */
  zeroBased?: boolean;
}

const W = 640;
const H = 260;
const M = { left: 70, right: 30, top: 12, bottom: 30 };

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: number): string => String(Math.round(v * 10) / 10);

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** [min, max] without spreading (charts hold tens of thousands of points). */
function range(v: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

const finite = (v: number | null): v is number => v !== null && Number.isFinite(v);

/**
 * The y range and its ticks, widened around its middle until the ticks read as distinct labels:
 * a flat or nearly flat series (one step, a constant lr) would otherwise get ticks closer than
 * the format shows, and the same label several times.
 */
export function yAxis(lo: number, hi: number, format: (v: number) => string, zeroBased: boolean): { lo: number; hi: number; ticks: number[] } {
  if (hi === lo) [lo, hi] = lo === 0 ? [0, 1] : [lo - Math.abs(lo) * 0.1, hi + Math.abs(hi) * 0.1];
  else if (!zeroBased) {
    const pad = (hi - lo) * 0.05;
    [lo, hi] = [lo - pad, hi + pad];
  }
  for (let i = 0; i < 60; i++) {
    const ticks = niceTicks(lo, hi);
    if (ticks.length >= 2 && new Set(ticks.map(format)).size === ticks.length) return { lo, hi, ticks };
    const mid = (lo + hi) / 2;
    const half = hi - lo; // doubles the span
    [lo, hi] = zeroBased && lo >= 0 ? [lo, lo + 2 * half] : [mid - half, mid + half];
  }
  return { lo, hi, ticks: niceTicks(lo, hi) };
}

export function renderChart(c: ChartSpec): string {
  let series = c.series;
  if (c.stacked) {
    // running sums: series k is drawn as the area under the sum of series 0..k
    const sums = new Map<number, number>();
    series = series.map((s) => ({
      ...s,
      points: s.points.map(([x, y]): [number, number | null] => {
        const v = (sums.get(x) ?? 0) + (finite(y) ? y : 0);
        sums.set(x, v);
        return [x, v];
      }),
    }));
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter(finite));
  const legend = c.series.map((s) => `<span class="key"><i style="background:${s.color}${s.faint ? ';opacity:.3' : ''}"></i>${esc(s.name)}</span>`).join('');
  const head = `<figure class="card"><figcaption>${esc(c.title)}<span class="legend">${legend}</span></figcaption>`;
  const svgOpen = `<svg class="chart" data-chart="${esc(c.id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(c.title)}">`;
  if (xs.length === 0 || ys.length === 0) {
    // steps logged without one finite value (every step skipped) is not a chart still waiting
    const steps = new Set(xs).size;
    const empty = steps === 0 ? 'no steps logged yet' : `no finite value in ${steps} logged step${steps === 1 ? '' : 's'}`;
    return `${head}${svgOpen}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="empty">${empty}</text></svg></figure>`;
  }
  let [x0, x1] = range(xs);
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  const zeroBased = Boolean(c.zeroBased || c.stacked);
  const [lo, hi] = range(ys);
  const axis = yAxis(zeroBased ? Math.min(0, lo) : lo, hi, c.yFormat, zeroBased);
  const [y0, y1] = [axis.lo, axis.hi];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number): number => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => M.top + (1 - (y - y0) / (y1 - y0)) * ph;

  const parts: string[] = [svgOpen];
  for (const t of axis.ticks) {
    const y = fmt(sy(t));
    parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}"/><text class="tick" x="${M.left - 6}" y="${y}" dy="0.32em" text-anchor="end">${esc(c.yFormat(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6).filter(Number.isInteger)) {
    parts.push(`<text class="tick" x="${fmt(sx(t))}" y="${H - 10}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text class="xlabel" x="${M.left - 6}" y="${H - 10}" text-anchor="end">step</text>`);
  parts.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}"/><line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}"/>`);
  if (c.stacked) {
    // painter's order: the largest sum first, each later (smaller) area drawn over it
    const base = fmt(sy(Math.max(0, y0)));
    for (const s of [...series].reverse()) {
      const pts = s.points.map(([x, y]) => `${fmt(sx(x))},${fmt(sy(y!))}`).join(' ');
      const first = fmt(sx(s.points[0]![0]));
      const last = fmt(sx(s.points[s.points.length - 1]![0]));
      parts.push(`<polygon class="series area" data-series="${esc(s.name)}" fill="${s.color}" points="${first},${base} ${pts} ${last},${base}"/>`);
    }
  } else {
    for (const s of series) {
      // one polyline per finite run of points; a run of one point (between skipped steps, or the
      // last step after one) draws no line, so it is a dot
      let run: string[] = [];
      const flush = (): void => {
        if (run.length) parts.push(`<polyline class="series${s.faint ? ' faint' : ''}" data-series="${esc(s.name)}" stroke="${s.color}" points="${run.join(' ')}"/>`);
        if (run.length === 1 && !s.dots) {
          const [cx, cy] = run[0]!.split(',');
          parts.push(`<circle class="lone" cx="${cx}" cy="${cy}" r="2" fill="${s.color}"/>`);
        }
        run = [];
      };
      for (const [x, y] of s.points) {
        if (finite(y)) run.push(`${fmt(sx(x))},${fmt(sy(y))}`);
        else flush();
      }
      flush();
      if (s.dots) for (const [x, y] of s.points) if (finite(y)) parts.push(`<circle class="dot" cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="3.5" fill="${s.color}"/>`);
    }
  }
  parts.push('</svg></figure>');
  return head + parts.join('');
}
