// report.html from partial and odd runs (no browser): gaps for skipped steps, a torn last
// line of a run still writing, a run without run.json, escaping, and telechat-report's errors.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/observe/files.js';
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

  it('a null mfu or tokens_per_s (a value that was not finite) is a gap in its chart, not a point at 0', async () => {
    const out = join(tmp.dir, 'null-mfu');
    mkdirSync(out);
    const lines = syntheticMetrics(6).map((m, i) => ({ ...m, ...(i === 2 ? { mfu: null, tokens_per_s: null } : {}) }));
    writeFileSync(join(out, 'metrics.jsonl'), lines.map((m) => JSON.stringify(m) + '\n').join(''));
    const html = readFileSync(await writeReport(out), 'utf8');
    expect(polylines(html, 'tokens_per_s')).toEqual([2, 3]);
    expect(polylines(html, 'mfu')).toEqual([2, 3]);
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

/** Writes metrics.jsonl (steps 1..n), resolved-config.json planning `total` steps, and optionally run.json. */
function runDir(name: string, steps: number, total: number, run: { start_step: number; finished_at?: string; end_step?: number } | null): string {
  const out = join(tmp.dir, name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'metrics.jsonl'), syntheticMetrics(steps).map((m) => JSON.stringify(m) + '\n').join(''));
  writeFileSync(join(out, 'resolved-config.json'), JSON.stringify({ run: { total_steps: total } }));
  if (run) {
    writeRunFacts(out, {
      layout: 'telechat', parameters: 1000, precision: 'fp32', zero_stage: 1, world_size: 1, device: 'cpu', dataset_dir: out, total_steps: total, train_batch_size: 4,
      started_at: '2026-01-01T00:00:00.000Z', monitor_files: [], ...run,
    });
  }
  return out;
}

const headlineOf = (html: string): string => html.match(/<p class="headline">([^<]*)/)![1]!;

describe('report status', () => {
  it('a resumed segment that crashed is "in progress or stopped", though final/ is left from the segment before', async () => {
    // finished at step 6 once, then resumed from step 3 and killed after step 5
    const out = runDir('resumed-crash', 5, 6, { start_step: 3 });
    mkdirSync(join(out, 'final'));
    expect(headlineOf(readFileSync(await writeReport(out), 'utf8'))).toMatch(/^in progress or stopped · step 5 of 6/);
  });

  it('finished only when run.json records this segment writing final/ at the last logged step', async () => {
    const done = runDir('finished', 6, 6, { start_step: 3, finished_at: '2026-01-01T01:00:00.000Z', end_step: 6 });
    mkdirSync(join(done, 'final'));
    expect(headlineOf(readFileSync(await writeReport(done), 'utf8'))).toMatch(/^finished · step 6 of 6/);
    // early stopping finishes before the planned total
    const early = runDir('early-stop', 4, 10, { start_step: 0, finished_at: '2026-01-01T01:00:00.000Z', end_step: 4 });
    mkdirSync(join(early, 'final'));
    expect(headlineOf(readFileSync(await writeReport(early), 'utf8'))).toMatch(/^finished · step 4 of 10/);
    // a record of another segment's end (the metrics have moved on since) is not this one's
    const stale = runDir('stale-end', 5, 6, { start_step: 0, finished_at: '2026-01-01T01:00:00.000Z', end_step: 6 });
    mkdirSync(join(stale, 'final'));
    expect(headlineOf(readFileSync(await writeReport(stale), 'utf8'))).toMatch(/^in progress or stopped/);
  });

  it('a run without run.json: finished when final/ exists and the last logged step is the planned total', async () => {
    const old = runDir('no-run-json', 6, 6, null);
    mkdirSync(join(old, 'final'));
    expect(headlineOf(readFileSync(await writeReport(old), 'utf8'))).toMatch(/^finished/);
    const short = runDir('no-run-json-short', 4, 6, null);
    mkdirSync(join(short, 'final'));
    expect(headlineOf(readFileSync(await writeReport(short), 'utf8'))).toMatch(/^in progress or stopped/);
  });
});

describe('records', () => {
  const out = join(tmp.dir, 'records');
  const good = JSON.stringify(syntheticMetrics(1)[0]);
  const metricsWith = (line: string, after = good): void => writeFileSync(join(out, 'metrics.jsonl'), `${good}\n${line}\n${after}\n`);

  it.each([
    ['{"step":3}', 'not a metrics record: "loss" is missing'],
    ['[1,2]', 'not a metrics record: an array, not an object'],
    ['3', 'not a metrics record: a number, not an object'],
    [JSON.stringify({ ...syntheticMetrics(1)[0], step: 'x' }), '"step" must be an integer >= 1, not the string "x"'],
    [JSON.stringify({ ...syntheticMetrics(1)[0], step: 0 }), '"step" must be an integer >= 1, not a number'],
    [JSON.stringify({ ...syntheticMetrics(1)[0], tokens: null }), '"tokens" must be a number, not null'],
    [JSON.stringify({ ...syntheticMetrics(1)[0], loss: 'abc' }), '"loss" must be a number or null, not the string "abc"'],
    [JSON.stringify({ ...syntheticMetrics(1)[0], mem: [1] }), '"mem" must be an object of byte counts'],
  ])('a metrics line that is JSON but not a record (%s) is an error naming FILE:LINE', async (line, why) => {
    mkdirSync(out, { recursive: true });
    metricsWith(line);
    await expect(writeReport(out)).rejects.toThrow(`${join(out, 'metrics.jsonl')}:2: ${why}`);
  });

  it('so is such a LAST line (only a torn line, not valid JSON, is left out), and a bad eval line; nothing is written', async () => {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'metrics.jsonl'), `${good}\n{"step":2}\n`);
    await expect(writeReport(out)).rejects.toThrow(`${join(out, 'metrics.jsonl')}:2: not a metrics record: "loss" is missing`);
    writeFileSync(join(out, 'metrics.jsonl'), `${good}\n`);
    writeFileSync(join(out, 'eval.jsonl'), '{"step":"x","eval_loss":"abc"}\n');
    const res = await runAsync([REPORT_CLI, out]);
    expect(res.status).toBe(1);
    expect(res.stderr).toBe(`telechat-report: ${join(out, 'eval.jsonl')}:1: "step" must be an integer >= 1, not the string "x"\n`);
    writeFileSync(join(out, 'eval.jsonl'), '{"step":2,"eval_loss":"abc","eval_tokens":5}\n');
    await expect(writeReport(out)).rejects.toThrow(`${join(out, 'eval.jsonl')}:1: "eval_loss" must be a number or null, not the string "abc"`);
    expect(existsSync(join(out, 'report.html'))).toBe(false);
  });
});

describe('charts', () => {
  /** The y tick labels of a chart. */
  const yTicks = (html: string, chart: string): string[] => {
    const svg = html.match(new RegExp(`<svg class="chart" data-chart="${chart}".*?</svg>`, 's'))![0];
    return [...svg.matchAll(/<text class="tick"[^>]*text-anchor="end">([^<]*)<\/text>/g)].map((m) => m[1]!);
  };

  it('y tick labels are distinct for a flat or nearly flat series (one step; losses equal to 4 digits)', async () => {
    const one = join(tmp.dir, 'one-step');
    mkdirSync(one);
    writeFileSync(join(one, 'metrics.jsonl'), JSON.stringify({ ...syntheticMetrics(1)[0], loss: 8.3222 }) + '\n');
    const flat = join(tmp.dir, 'flat');
    mkdirSync(flat);
    const ms = syntheticMetrics(3).map((m, i) => ({ ...m, loss: 8.3222 + i * 1e-5, grad_norm: 3.1470001 + i * 1e-7, lr: 5e-5 }));
    writeFileSync(join(flat, 'metrics.jsonl'), ms.map((m) => JSON.stringify(m) + '\n').join(''));
    for (const out of [one, flat]) {
      const html = readFileSync(await writeReport(out), 'utf8');
      for (const chart of ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'mfu', 'memory']) {
        const ticks = yTicks(html, chart);
        expect(ticks.length, `${out} ${chart}`).toBeGreaterThanOrEqual(2);
        expect(new Set(ticks).size, `${out} ${chart}: ${ticks.join(' ')}`).toBe(ticks.length);
      }
    }
  });

  it('a chart whose every step was skipped says so, not "no data yet"', async () => {
    const out = join(tmp.dir, 'all-skipped');
    mkdirSync(out);
    const ms = syntheticMetrics(3).map((m) => ({ ...m, grad_norm: NaN, skipped: 'overflow' as const }));
    writeFileSync(join(out, 'metrics.jsonl'), ms.map((m) => JSON.stringify(m) + '\n').join(''));
    const html = readFileSync(await writeReport(out), 'utf8');
    const svg = html.match(/<svg class="chart" data-chart="grad_norm".*?<\/svg>/s)![0];
    expect(svg).toContain('>no finite value in 3 logged steps</text>');
    expect(html).not.toContain('no data yet');
  });
});

describe('telechat-report', () => {
  it('a directory at OUTPUT_DIR/report.html: one sentence, exit 1, no temp file left', async () => {
    const out = runDir('report-is-dir', 2, 2, null);
    mkdirSync(join(out, 'report.html'));
    const res = await runAsync([REPORT_CLI, out]);
    expect(res.status).toBe(1);
    expect(res.stderr).toBe(`telechat-report: ${join(out, 'report.html')} is a directory, not a file: move it away to write the report\n`);
    expect(readdirSync(out).sort()).toEqual(['metrics.jsonl', 'report.html', 'resolved-config.json']);
    // the atomic write itself removes its temp file when the rename fails
    expect(() => writeFileAtomic(join(out, 'report.html'), 'x')).toThrow(/EISDIR|EPERM|ENOTEMPTY|EEXIST/);
    expect(readdirSync(out).filter((f) => f.startsWith('.telechat-tmp-'))).toEqual([]);
  });

  it('refuses a dir that is not a training output dir, in one sentence, exit 1, nothing written', async () => {
    const res = await runAsync([REPORT_CLI, tmp.dir]);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe(`telechat-report: ${tmp.dir}: not a training output directory (no metrics.jsonl or resolved-config.json)`);
    expect(existsSync(join(tmp.dir, 'report.html'))).toBe(false);
    const missing = await runAsync([REPORT_CLI, join(tmp.dir, 'nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no such output directory/);
    const file = join(tmp.dir, 'metrics-copy.jsonl');
    writeFileSync(file, '{}\n');
    const notDir = await runAsync([REPORT_CLI, file]);
    expect(notDir.status).toBe(1);
    expect(notDir.stderr.trim()).toBe(`telechat-report: ${file}: a file, not an output directory (give the dir a run wrote, which holds metrics.jsonl)`);
  });
  it('--help shows usage and examples', async () => {
    const res = await runAsync([REPORT_CLI, '--help']);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/telechat-report <output-dir>/);
    expect(res.stdout).toMatch(/Writes OUTPUT_DIR\/report.html/);
    expect(res.stdout).toMatch(/Examples:/);
  });
});
