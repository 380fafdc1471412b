// report.html from partial and odd runs (no browser): gaps for skipped steps, a torn last
// line of a run still writing, a run without run.json, escaping, and telechat-report's errors.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/observe/report/index.js';
import { writeRunFacts } from '../../src/observe/run_info.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { runAsync } from '../helpers/train_fixture.js';
import { syntheticMetrics } from './synthetic_run.js';

const REPORT_CLI = resolve('dist/cli/report.js');
const tmp = makeTmpDir('observe-report-unit');
afterAll(() => tmp.cleanup());

/** Point counts of each polyline of a chart, in document order. */
function polylines(html: string, chart: string): number[] {
  const svg = html.match(new RegExp(`<svg class="chart" data-chart="${chart}".*?</svg>`, 's'))![0];
  return [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1]!.trim().split(/\s+/).length);
}

describe('report.html', () => {
  it('a skipped step (NaN, null in metrics.jsonl) is a gap; a torn last line is left out and noted', async () => {
    const out = join(tmp.dir, 'partial');
    mkdirSync(out);
    const ms = syntheticMetrics(10);
    ms[4]!.loss = NaN;
    ms[4]!.grad_norm = NaN;
    ms[4]!.skipped = 'nonfinite_loss';
    writeFileSync(join(out, 'metrics.jsonl'), ms.map((m) => JSON.stringify(m) + '\n').join(''));
    appendFileSync(join(out, 'metrics.jsonl'), '{"step": 11, "loss": 2.'); // still being written
    writeFileSync(join(out, 'resolved-config.json'), JSON.stringify({ note: '<script>alert(1)</script>' }));
    const html = readFileSync(await writeReport(out), 'utf8');
    expect(polylines(html, 'loss')).toEqual([4, 5]);
    expect(polylines(html, 'grad_norm')).toEqual([4, 5]);
    expect(polylines(html, 'lr')).toEqual([10]);
    expect(html).not.toContain('class="lone"');
    expect(html).toContain('metrics.jsonl:11: incomplete last line left out');
    expect(html).toContain('run.json is missing');
    expect(html).toContain('10 (1 skipped)');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/\s(src|href)\s*=/i);
  });

  it('a step alone between skipped ones (or the last after one) is a dot: a one-point line draws nothing', async () => {
    const out = join(tmp.dir, 'lone');
    mkdirSync(out);
    const ms = syntheticMetrics(10);
    for (const i of [5, 8]) Object.assign(ms[i]!, { loss: NaN, grad_norm: NaN, skipped: 'nonfinite_loss' });
    writeFileSync(join(out, 'metrics.jsonl'), ms.map((m) => JSON.stringify(m) + '\n').join(''));
    const html = readFileSync(await writeReport(out), 'utf8');
    expect(polylines(html, 'loss')).toEqual([5, 2, 1]);
    const svg = html.match(/<svg class="chart" data-chart="loss".*?<\/svg>/s)![0];
    expect(svg.match(/<circle class="lone"/g)).toHaveLength(1);
  });

  it('a LoRA run says so: the base\'s parameters, r, alpha, modules and the trainable count', async () => {
    const out = join(tmp.dir, 'lora-run');
    mkdirSync(out);
    writeFileSync(join(out, 'metrics.jsonl'), syntheticMetrics(3).map((m) => JSON.stringify(m) + '\n').join(''));
    writeRunFacts(out, {
      layout: 'telechat', parameters: 7_000_000_000, lora: { r: 16, alpha: 32, target_modules: ['query', 'dense'], trainable_parameters: 3_932_160 },
      precision: 'bf16', zero_stage: 2, world_size: 8, device: 'cuda', dataset_dir: out, total_steps: 3, train_batch_size: 8, started_at: new Date().toISOString(), start_step: 0,
    });
    const html = readFileSync(await writeReport(out), 'utf8');
    expect(html).toContain('telechat, 7B parameters, LoRA r 16, bf16');
    expect(html).toContain('r 16, alpha 32 on query, dense: 3,932,160 trainable parameters over the frozen base');
  });

  it('a bad line in the middle of metrics.jsonl is an error naming file and line', async () => {
    const out = join(tmp.dir, 'bad');
    mkdirSync(out);
    writeFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify(syntheticMetrics(1)[0])}\nnot json\n${JSON.stringify(syntheticMetrics(2)[1])}\n`);
    await expect(writeReport(out)).rejects.toThrow(`${join(out, 'metrics.jsonl')}:2: not valid JSON`);
  });
});

describe('telechat-report', () => {
  it('refuses a dir that is not a training output dir, in one sentence, exit 1, nothing written', async () => {
    const res = await runAsync([REPORT_CLI, tmp.dir]);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe(`telechat-report: ${tmp.dir}: not a training output directory (no metrics.jsonl or resolved-config.json)`);
    expect(existsSync(join(tmp.dir, 'report.html'))).toBe(false);
    const missing = await runAsync([REPORT_CLI, join(tmp.dir, 'nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no such output directory/);
  });
  it('--help shows usage and examples', async () => {
    const res = await runAsync([REPORT_CLI, '--help']);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/telechat-report <output-dir>/);
    expect(res.stdout).toMatch(/Writes OUTPUT_DIR\/report.html/);
    expect(res.stdout).toMatch(/Examples:/);
  });
});
