// The monitor writers against independent readers: CRC-32C check value, event files read back
// by scripts/reference/tfevents_reader.py (framing, CRCs and Event fields decoded in Python),
// a corrupted or torn last record reported with the earlier records still read, resume
// truncation, DeepSpeed's CSV layout with Python's float spelling, and the config blocks.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfigObject } from '../../src/config/index.js';
import { crc32c } from '../../src/observe/crc32c.js';
import { CsvMonitor, csvFileName, pythonFloat, truncateCsvFiles } from '../../src/observe/csv_monitor.js';
import { keepThrough, Monitors, stepScalars } from '../../src/observe/monitors.js';
import { TensorBoardWriter, truncateEventFiles } from '../../src/observe/tensorboard.js';
import { frameRecord, readRecords } from '../../src/observe/tfrecord.js';
import { ProgressBar } from '../../src/train/progress.js';
import { runPythonJson } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { pyNumber, readEventsPy, sameF32 } from './helpers.js';
import { syntheticMetrics } from './synthetic_run.js';

const tmp = makeTmpDir('observe-unit');
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (): string => {
  const d = join(tmp.dir, `d${n++}`);
  mkdirSync(d);
  return d;
};

describe('CRC-32C', () => {
  it('matches the standard check value and RFC 3720 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });
});

describe('TensorBoard event files', () => {
  it('every scalar reads back in Python equal to what was written (as a float32), edge values included', () => {
    const dir = fresh();
    const w = new TensorBoardWriter(dir, () => 1_700_000_000_500);
    const values = [0, -0, 1, -2.5, 1e-7, 3.4e38, 1e-45, NaN, Infinity, -Infinity, Math.PI, 5e-5];
    w.write(values.map((value, i) => ({ tag: `t/${i}`, value, x: 7 })));
    w.write([{ tag: 'Train/Samples/lr', value: 0.1, x: 2 ** 40 + 3 }, { tag: 'üñï/ç', value: 2, x: 0 }]);
    w.close();
    expect(readdirSync(dir)).toEqual([`events.out.tfevents.1700000000.${hostname()}`]);
    const [f] = readEventsPy(dir);
    expect(f!.error).toBeNull();
    expect(f!.file_version).toBe('brain.Event:2');
    const got = f!.scalars;
    expect(got.slice(0, values.length).map((s) => [s.tag, s.step, s.wall_time])).toEqual(values.map((_, i) => [`t/${i}`, 7, 1_700_000_000.5]));
    got.slice(0, values.length).forEach((s, i) => expect(sameF32(pyNumber(s.value), values[i]!), `${s.tag}: ${s.value}`).toBe(true));
    expect(got.slice(values.length).map((s) => [s.tag, s.step, pyNumber(s.value)])).toEqual([['Train/Samples/lr', 2 ** 40 + 3, Math.fround(0.1)], ['üñï/ç', 0, 2]]);
  });

  it('a corrupted or torn last record is reported, the earlier ones still read (Python and TypeScript)', () => {
    const dir = fresh();
    const w = new TensorBoardWriter(dir);
    for (let s = 1; s <= 4; s++) w.write([{ tag: 'train/loss', value: s / 2, x: s }]);
    w.close();
    const bytes = readFileSync(w.path);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 6]! ^= 0x40; // inside the last record's data
    const bad = join(dir, 'flipped');
    writeFileSync(bad, flipped);
    const torn = join(dir, 'torn');
    writeFileSync(torn, bytes.subarray(0, bytes.length - 3));
    for (const [file, why] of [[bad, /data CRC mismatch/], [torn, /truncated data/]] as const) {
      const [f] = readEventsPy(file);
      expect(f!.error).toMatch(why);
      expect(f!.scalars.map((s) => [s.step, pyNumber(s.value)])).toEqual([[1, 0.5], [2, 1], [3, 1.5]]);
      const ts = readRecords(readFileSync(file));
      expect(ts.error).toMatch(why);
      expect(ts.records).toHaveLength(4); // file_version + 3 steps
    }
  });

  it('the Python reader refuses a record whose proto field runs past its message (CRCs intact), keeping the records before it', () => {
    const dir = fresh();
    const w = new TensorBoardWriter(dir);
    w.write([{ tag: 'train/loss', value: 0.5, x: 1 }]);
    w.close();
    // Value { tag (field 1, bytes) announcing 12 bytes where 9 follow in all; simple_value } in Summary in Event
    const value = Buffer.from([0x0a, 12, ...Buffer.from('a/bc'), 0x15, 0, 0, 0, 0x40]);
    const summary = Buffer.concat([Buffer.from([0x0a, value.length]), value]);
    const event = Buffer.concat([Buffer.from([0x10, 2, 0x2a, summary.length]), summary]);
    appendFileSync(w.path, frameRecord(event));
    const [f] = readEventsPy(w.path);
    expect(f!.error).toMatch(/record 2 at byte \d+: .*runs past/);
    expect(f!.scalars.map((sc) => [sc.tag, sc.step, pyNumber(sc.value)])).toEqual([['train/loss', 1, 0.5]]);
  });

  it('resume truncation drops later scalars (samples for DeepSpeed tags, steps for ours) and a torn tail', () => {
    const dir = fresh();
    const w = new TensorBoardWriter(dir);
    for (const m of syntheticMetrics(6)) w.write(stepScalars(m, 4));
    w.close();
    appendFileSync(w.path, Buffer.from([1, 2, 3])); // a crash mid-record
    expect(truncateEventFiles(dir, keepThrough(3, 4))).toEqual([w.path.split('/').pop()]);
    const [f] = readEventsPy(dir);
    expect(f!.error).toBeNull();
    const steps = (tag: string): number[] => f!.scalars.filter((s) => s.tag === tag).map((s) => s.step);
    expect(steps('Train/Samples/train_loss')).toEqual([4, 8, 12]);
    expect(steps('train/grad_norm')).toEqual([1, 2, 3]);
    expect(steps('mem/optim')).toEqual([1, 2, 3]);
    expect(truncateEventFiles(dir, keepThrough(3, 4))).toEqual([]); // nothing left to drop: untouched
  });

  it('two segments started in the same second get distinct files', () => {
    const dir = fresh();
    const a = new TensorBoardWriter(dir, () => 5_000);
    const b = new TensorBoardWriter(dir, () => 5_400);
    a.close();
    b.close();
    expect(b.path).toBe(`${a.path}.1`);
  });
});

describe('csv_monitor', () => {
  it("spells floats as Python's repr does", () => {
    const values = [0, 1, -1, 0.1, 1e-4, 1e-5, 5e-5, 1.5e-7, 123456.789, 1e15, 1e16, 2e15, 1.2345678901234567e17, 3.4e38, 1 / 3, -2.5e-10, 65504, 7.0000000000000001e-3];
    const py = runPythonJson<string[]>('import json,sys; print(json.dumps([repr(float(v)) for v in json.load(sys.stdin)]))', values);
    expect(values.map(pythonFloat)).toEqual(py);
    expect([NaN, Infinity, -Infinity].map(pythonFloat)).toEqual(['nan', 'inf', '-inf']);
  });

  it("DeepSpeed's layout: a file per tag, header step,<last segment>, rows x,value; resume truncation", () => {
    const dir = fresh();
    const csv = new CsvMonitor(dir);
    for (const m of syntheticMetrics(5)) csv.write(stepScalars(m, 8));
    expect(csvFileName('Train/Samples/train_loss')).toBe('Train_Samples_train_loss.csv');
    const text = readFileSync(join(dir, 'Train_Samples_train_loss.csv'), 'utf8');
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('step,train_loss');
    expect(lines.slice(1, 6).map((l) => l.split(',')[0])).toEqual(['8', '16', '24', '32', '40']);
    expect(lines.slice(1, 6).map((l) => Number(l.split(',')[1]))).toEqual(syntheticMetrics(5).map((m) => m.loss));
    expect(readFileSync(join(dir, 'mem_params.csv'), 'utf8').split('\r\n')[1]).toBe('1,2000000000.0');
    truncateCsvFiles(dir, keepThrough(2, 8));
    expect(readFileSync(join(dir, 'Train_Samples_train_loss.csv'), 'utf8').split('\r\n').filter(Boolean).map((l) => l.split(',')[0])).toEqual(['step', '8', '16']);
    expect(readFileSync(join(dir, 'train_lr.csv'), 'utf8').split('\r\n').filter(Boolean).map((l) => l.split(',')[0])).toEqual(['step', '1', '2']);
  });
});

describe('the eval seam', () => {
  it('Monitors.onEval writes eval/loss to TensorBoard and CSV; the progress bar shows the latest eval loss', () => {
    const root = fresh();
    const mon = { enabled: true, output_path: root, job_name: 'j' };
    const lines: string[] = [];
    const m = new Monitors({ tensorboard: mon, csv: { ...mon, job_name: 'c' }, globalBatch: 2, startStep: 0, log: (l) => lines.push(l) });
    m.onStep(syntheticMetrics(1)[0]!);
    m.onEval({ step: 1, eval_loss: 2.25 });
    m.close();
    const [f] = readEventsPy(join(root, 'j'));
    expect(f!.scalars.filter((s) => s.tag === 'eval/loss').map((s) => [s.step, pyNumber(s.value)])).toEqual([[1, 2.25]]);
    expect(readFileSync(join(root, 'c', 'eval_loss.csv'), 'utf8')).toBe('step,loss\r\n1,2.25\r\n');
    expect(lines.join('\n')).toMatch(/tensorboard: writing .*events\.out\.tfevents\./);
    // a fresh run beside them keeps the earlier files and says so
    const again = new Monitors({ tensorboard: mon, csv: { ...mon, job_name: 'c' }, globalBatch: 2, startStep: 0, log: (l) => lines.push(l) });
    again.close();
    expect(readdirSync(join(root, 'j'))).toHaveLength(2);
    expect(readFileSync(join(root, 'c', 'eval_loss.csv'), 'utf8')).toBe('step,loss\r\n1,2.25\r\n');
    expect(lines.filter((l) => l.startsWith('warning:'))).toHaveLength(2);

    let drawn = '';
    const tty = { write: (s: string) => ((drawn = s), true) } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar(10, 0, tty);
    bar.update(1, 3, 1e-4, 100);
    expect(drawn).not.toMatch(/eval/);
    expect(drawn).toMatch(/ETA /);
    bar.setEvalLoss(2.5);
    bar.update(2, 3, 1e-4, 100);
    expect(drawn).toMatch(/eval 2\.5000/);
  });
});

describe('runs sharing the job dirs', () => {
  it('a resume cuts back only the files its own run created and wrote alone; the other run\'s are left, with a note', () => {
    const root = fresh();
    const tensorboard = { enabled: true, output_path: root, job_name: 'tb' };
    const csv = { enabled: true, output_path: root, job_name: 'csv' };
    const lines: string[] = [];
    const metrics = syntheticMetrics(6);
    /** One run segment: its owned files (from earlier segments) grow with the files it creates. */
    const segment = (owned: string[], startStep: number, steps: number): string => {
      const m = new Monitors({ tensorboard, csv, globalBatch: 2, startStep, owned: new Set(owned), claim: (f) => owned.push(f), log: (l) => lines.push(l) });
      for (const x of metrics.slice(startStep, steps)) m.onStep(x);
      m.close();
      return lines.splice(0).join('\n');
    };
    const a: string[] = [];
    const b: string[] = [];
    segment(a, 0, 6); // run A: steps 1-6, creates its event file and every CSV
    segment(b, 0, 4); // run B beside it: its own event file; appends to A's CSVs
    const tbDir = join(root, 'tb');
    const [fileA, fileB] = [a.find((f) => f.startsWith(tbDir))!, b.find((f) => f.startsWith(tbDir))!];
    expect(b.filter((f) => !f.startsWith(tbDir))).toEqual([]); // B created no CSV
    const bytes = (f: string): string => readFileSync(f).toString('base64');
    const [aBefore, csvBefore] = [bytes(fileA), bytes(join(root, 'csv', 'train_loss.csv'))];

    // B resumes at step 2: only B's file is cut back; A's event file and the shared CSVs are left
    const said = segment(b, 2, 4);
    expect(said).toContain(`tensorboard: dropped scalars after step 2 from ${fileB.split('/').pop()} in ${tbDir}`);
    expect(said).toMatch(new RegExp(`note: tensorboard: 1 file\\(s\\) in ${tbDir} left as they are, not written by this run alone .*: ${fileA.split('/').pop()}`));
    expect(said).toMatch(/note: csv_monitor: 14 file\(s\) in .* left as they are/);
    expect(bytes(fileA)).toBe(aBefore);
    expect(bytes(join(root, 'csv', 'train_loss.csv')).startsWith(csvBefore.slice(0, -4))).toBe(true); // appended to, never cut
    const stepsOf = (f: string): number[] => readEventsPy(f)[0]!.scalars.filter((s) => s.tag === 'train/loss').map((s) => s.step);
    expect(stepsOf(fileB)).toEqual([1, 2]);
    expect(stepsOf(fileA)).toEqual([1, 2, 3, 4, 5, 6]);

    // A resumes at step 3: its event file is cut back; its CSVs, which B appended to, are left as they are
    const csvNow = bytes(join(root, 'csv', 'train_loss.csv'));
    const saidA = segment(a, 3, 6);
    expect(saidA).toContain(`tensorboard: dropped scalars after step 3 from ${fileA.split('/').pop()} in ${tbDir}`);
    expect(saidA).toMatch(/note: csv_monitor: 14 file\(s\) in .* left as they are/);
    expect(stepsOf(fileA)).toEqual([1, 2, 3]);
    expect(stepsOf(fileB)).toEqual([1, 2]); // B's first segment, as B's resume left it
    expect(bytes(join(root, 'csv', 'train_loss.csv')).startsWith(csvNow.slice(0, -4))).toBe(true);
  });

  it('a run alone in its CSV dir has its CSVs cut back on a resume', () => {
    const root = fresh();
    const off = { enabled: false, output_path: root, job_name: 'tb' };
    const csv = { enabled: true, output_path: root, job_name: 'csv' };
    const owned: string[] = [];
    const opts = { tensorboard: off, csv, globalBatch: 2, owned: new Set<string>(), claim: (f: string) => owned.push(f), log: () => {} };
    const first = new Monitors({ ...opts, startStep: 0 });
    for (const m of syntheticMetrics(5)) first.onStep(m);
    first.close();
    new Monitors({ ...opts, startStep: 2, owned: new Set(owned) }).close();
    expect(readFileSync(join(root, 'csv', 'train_loss.csv'), 'utf8').split('\r\n').filter(Boolean).map((l) => l.split(',')[0])).toEqual(['step', '1', '2']);
  });

  it('a resume that no longer writes where an earlier segment did (monitors off, another job_name) cuts those files back too', () => {
    const root = fresh();
    const on = (job: string) => ({ enabled: true, output_path: root, job_name: job });
    const owned: string[] = [];
    const lines: string[] = [];
    const first = new Monitors({ tensorboard: on('a'), csv: on('a'), globalBatch: 2, startStep: 0, owned: new Set(), claim: (f) => owned.push(f), log: () => {} });
    for (const m of syntheticMetrics(5)) first.onStep(m);
    first.close();
    const event = owned.find((f) => f.includes('tfevents'))!;
    const stepsOf = (f: string): number[] => readEventsPy(f)[0]!.scalars.filter((x) => x.tag === 'train/loss').map((x) => x.step);
    const csvSteps = (): string[] => readFileSync(join(root, 'a', 'train_loss.csv'), 'utf8').split('\r\n').filter(Boolean).map((l) => l.split(',')[0]!);
    // resumed at step 3 with both monitors off
    const off = { ...on('a'), enabled: false };
    new Monitors({ tensorboard: off, csv: off, globalBatch: 2, startStep: 3, owned: new Set(owned), log: (l) => lines.push(l) }).close();
    expect(stepsOf(event)).toEqual([1, 2, 3]);
    expect(csvSteps()).toEqual(['step', '1', '2', '3']);
    expect(lines.join('\n')).toContain(`tensorboard: dropped scalars after step 3 from ${event.split('/').pop()} in ${join(root, 'a')} (written by an earlier segment; this one writes no such file there)`);
    // resumed at step 2 under another job_name: the old dir is cut back, the new one written
    const second = new Monitors({ tensorboard: on('b'), csv: on('b'), globalBatch: 2, startStep: 2, owned: new Set(owned), claim: (f) => owned.push(f), log: () => {} });
    for (const m of syntheticMetrics(5).slice(2)) second.onStep(m);
    second.close();
    expect(stepsOf(event)).toEqual([1, 2]);
    expect(csvSteps()).toEqual(['step', '1', '2']);
    expect(stepsOf(owned.find((f) => f.includes(join(root, 'b')) && f.includes('tfevents'))!)).toEqual([3, 4, 5]);
    // one job dir for both, the CSV monitor off in the resume: its CSVs are cut back there too
    const shared: string[] = [];
    const third = new Monitors({ tensorboard: on('c'), csv: on('c'), globalBatch: 2, startStep: 0, owned: new Set(), claim: (f) => shared.push(f), log: () => {} });
    for (const m of syntheticMetrics(5)) third.onStep(m);
    third.close();
    new Monitors({ tensorboard: on('c'), csv: { ...on('c'), enabled: false }, globalBatch: 2, startStep: 3, owned: new Set(shared), log: () => {} }).close();
    expect(readFileSync(join(root, 'c', 'train_loss.csv'), 'utf8').split('\r\n').filter(Boolean).map((l) => l.split(',')[0])).toEqual(['step', '1', '2', '3']);
  });
});

describe('config blocks', () => {
  const base = { train_batch_size: 8, train_micro_batch_size_per_gpu: 8, training: { output_dir: 'runs/a' } };
  it('tensorboard and csv_monitor take DeepSpeed defaults, placed under the output dir, with no warning', () => {
    const { config, warnings } = resolveConfigObject({ ...base, tensorboard: { enabled: true }, csv_monitor: { enabled: true, output_path: 'logs/', job_name: 'x' } }, 'test.json', {});
    expect(config.tensorboard).toEqual({ enabled: true, output_path: join('runs/a', 'tensorboard'), job_name: 'DeepSpeedJobName' });
    expect(config.csv_monitor).toEqual({ enabled: true, output_path: 'logs/', job_name: 'x' });
    expect(config.ignored).toEqual({});
    expect(warnings).toEqual([]);
    expect(resolveConfigObject(base, 'test.json', {}).config.tensorboard.enabled).toBe(false);
  });
  it('a misspelt key in the block is refused by name', () => {
    expect(() => resolveConfigObject({ ...base, tensorboard: { enabled: true, outputpath: 'x' } }, 'test.json', {})).toThrow(/tensorboard\.outputpath/);
  });
  it('wandb and comet (off) are kept with a warning, holding only DeepSpeed\'s own keys of the right types, as its pydantic models require', () => {
    const wandb = { enabled: false, group: 'g', team: null, project: 'p' };
    const comet = { enabled: false, samples_log_interval: 10, project: 'p', online: false, mode: 'get' };
    const { config, warnings } = resolveConfigObject({ ...base, wandb, comet }, 'test.json', {});
    expect(config.ignored).toEqual({ wandb, comet });
    expect(warnings).toEqual([
      'test.json: "wandb" is accepted but has no effect in telechat-train (metrics go to metrics.jsonl)',
      'test.json: "comet" is accepted but has no effect in telechat-train (metrics go to metrics.jsonl)',
    ]);
    const refusal = (cfg: object): string => {
      try {
        resolveConfigObject({ ...base, ...cfg }, 'test.json', {});
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(refusal({ wandb: { enabled: false, bogus: 1 } })).toMatch(/^test\.json: unknown key "wandb\.bogus"/);
    expect(refusal({ wandb: { enabled: false, output_path: 'w' } })).toMatch(/^test\.json: unknown key "wandb\.output_path"/);
    expect(refusal({ wandb: { enabled: false, project: 5 } })).toBe('test.json: key "wandb.project" expects a string, got 5');
    expect(refusal({ comet: { enabled: false, bogus: 1 } })).toMatch(/^test\.json: unknown key "comet\.bogus"/);
    expect(refusal({ wandb: { enabled: true } })).toMatch(/^test\.json: "wandb\.enabled": true is not supported: it sends metrics to a network service/);
  });
});
