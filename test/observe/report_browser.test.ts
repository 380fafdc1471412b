// The report in a real browser (Debian chromium, headless): it loads with no console
// messages, each chart holds one point per logged step (read from the DOM after load),
// a 1280x800 and a phone screenshot are saved to test-artifacts/, and a 10,000-step report
// stays under 2 MB and renders in under 2 s more than a blank page.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../../src/data/builder.js';
import { writeReport } from '../../src/observe/report/index.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { chromium } from './chromium.js';
import { writeSyntheticRun } from './synthetic_run.js';

const ARTIFACTS = resolve('test-artifacts');

/** Points of each chart's series, from the DOM chromium serialised after loading the page. */
function chartPoints(dom: string): Map<string, Map<string, number>> {
  const charts = new Map<string, Map<string, number>>();
  for (const svg of dom.matchAll(/<svg class="chart" data-chart="([^"]+)"[^>]*>(.*?)<\/svg>/gs)) {
    const series = new Map<string, number>();
    for (const el of svg[2]!.matchAll(/<(polyline|polygon) class="series[^"]*" data-series="([^"]+)"[^>]*points="([^"]*)"/g)) {
      const n = el[3]!.trim().split(/\s+/).length - (el[1] === 'polygon' ? 2 : 0); // an area closes on two baseline corners
      series.set(el[2]!, (series.get(el[2]!) ?? 0) + n);
    }
    charts.set(svg[1]!, series);
  }
  return charts;
}

describe('report.html in headless chromium', () => {
  const tmp = makeTmpDir('observe-report');
  let dataset: string;
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dataset = join(tmp.dir, 'dataset');
    await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: 'data/tiny-model', output: dataset, maxSeqLen: 256, template: 'telechat2', seed: 1 });
  }, 120_000);
  afterAll(() => tmp.cleanup());

  it('the console check catches a page error (so its silence below means something)', () => {
    const bad = join(tmp.dir, 'bad.html');
    writeFileSync(bad, '<!DOCTYPE html><html><body><script>throw new Error("deliberate")</script></body></html>');
    const run = chromium(['--dump-dom'], `file://${bad}`);
    expect(run.console.join('\n')).toMatch(/Uncaught Error: deliberate/);
  }, 60_000);

  it('loads cleanly; every chart has one point per logged step; screenshots saved', async () => {
    const out = join(tmp.dir, 'run');
    const metrics = writeSyntheticRun(out, 300, dataset, 50);
    const path = await writeReport(out);
    const html = (await import('node:fs')).readFileSync(path, 'utf8');
    // self-contained: no src/href at all, hence none pointing at the network
    expect(html).not.toMatch(/\s(src|href)\s*=/i);
    expect(html.match(/<svg /g)).toHaveLength(6);

    const dom = chromium(['--dump-dom'], `file://${path}`);
    expect(dom.console).toEqual([]);
    const charts = chartPoints(dom.stdout);
    expect([...charts.keys()]).toEqual(['loss', 'lr', 'grad_norm', 'tokens_per_s', 'mfu', 'memory']);
    const n = metrics.length;
    expect(Object.fromEntries(charts.get('loss')!)).toEqual({ train: n, 'train (smoothed)': n, eval: 6 });
    for (const id of ['lr', 'grad_norm', 'tokens_per_s', 'mfu']) expect([...charts.get(id)!.values()], id).toEqual([n]);
    const mem = charts.get('memory')!;
    expect([...mem.keys()].sort()).toEqual(['activations', 'buffers', 'grads', 'master', 'optim', 'params']);
    for (const [k, v] of mem) expect(v, k).toBe(n);
    // the summary, dataset stats, collapsible config and the highlighted row made it into the DOM
    expect(dom.stdout).toContain('7,000,000,000 parameters');
    expect(dom.stdout).toMatch(/<th>Packing efficiency<\/th>/);
    expect(dom.stdout).toMatch(/<details><summary>Resolved config<\/summary>/);
    expect(dom.stdout).toMatch(/<mark>[^<]+<\/mark>/);

    const desktop = join(ARTIFACTS, 'report-1280x800.png');
    const phone = join(ARTIFACTS, 'report-phone-390x844.png');
    expect(chromium([`--screenshot=${desktop}`, '--window-size=1280,800'], `file://${path}`).console).toEqual([]);
    expect(chromium([`--screenshot=${phone}`, '--window-size=390,844'], `file://${path}`).console).toEqual([]);
    expect(statSync(desktop).size).toBeGreaterThan(20_000); // a blank page is ~5 KB
    console.log(`report screenshots: ${desktop}, ${phone}`);
  }, 120_000);

  it('a 10,000-step run: report under 2 MB, renders in < 2 s over a blank page', async () => {
    const out = join(tmp.dir, 'long');
    writeSyntheticRun(out, 10_000, dataset, 500);
    const path = await writeReport(out);
    const bytes = statSync(path).size;
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
    const blank = join(tmp.dir, 'blank.html');
    writeFileSync(blank, '<!DOCTYPE html><html><body>blank</body></html>');
    const shot = join(ARTIFACTS, 'report-10000-steps.png');
    // best of two, to keep a busy shared machine's noise out of the page's cost
    const time = (url: string, file: string): number =>
      Math.min(...[0, 1].map(() => chromium([`--screenshot=${file}`, '--window-size=1280,800'], url).ms));
    const tBlank = time(`file://${blank}`, join(tmp.dir, 'blank.png'));
    const tReport = time(`file://${path}`, shot);
    console.log(`10,000-step report: ${(bytes / 1024).toFixed(0)} KiB; screenshot ${tReport.toFixed(0)} ms vs blank page ${tBlank.toFixed(0)} ms`);
    expect(tReport - tBlank).toBeLessThan(2000);
    const dom = chromium(['--dump-dom'], `file://${path}`);
    expect(dom.console).toEqual([]);
    expect([...chartPoints(dom.stdout).get('loss')!.values()]).toEqual([10_000, 10_000, 20]);
  }, 180_000);
});
