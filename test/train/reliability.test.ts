// Reliability as a user meets it, with real ranks under telechat-launch on 127.0.0.1:
// SIGINT/SIGTERM stop a 2-rank run after a step with a checkpoint, exit 130/143 and print the
// command that resumes it, which continues bitwise like the uninterrupted run; a second signal
// kills at once, even inside a long save; a full disk names the checkpoint, removes the temp dir
// and leaves the latest valid; a second writer into a running run's dir is refused; ranks stop
// within seconds of their launcher being killed; MFU uses the cached (or given) peak.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCH_CLI, TRAIN_CLI, type Fixture, type Metrics, makeFixture, runAsync, runTrain, TINY_MODEL, zeroConfig } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { freePort } from '../dist/helpers.js';
import { LOCK_FILE } from '../../src/train/run_lock.js';

const tmp = makeTmpDir('reliab');
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  tmp.cleanup();
});
const CACHE = join(tmp.dir, 'cache'); // the MFU peak cache of these runs (XDG_CACHE_HOME)
const ENV = { XDG_CACHE_HOME: CACHE };
const STEPS = 24;
let fx: Fixture;
let whole: Metrics;

/** 2 ranks, ZeRO stage 2, no periodic checkpoint unless asked. */
function config(training: Record<string, unknown> = {}) {
  return zeroConfig(2, 3, 2, STEPS, {}, { save_steps: 1000, ...training });
}

function trainArgs(out: string, cfg: Record<string, unknown>, extra: string[] = []): string[] {
  const cfgPath = `${out}.config-${Math.random()}.json`;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  return [TRAIN_CLI, '--config', cfgPath, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out, ...extra];
}

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a command (node ARGS) without waiting for it. */
function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, args, { env: { ...process.env, OMP_NUM_THREADS: '1', ...ENV, ...env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, out: () => out, err: () => err, done };
}

async function launch(out: string, cfg: Record<string, unknown>, env: Record<string, string> = {}, extra: string[] = []): Promise<Running> {
  return start([LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', process.execPath, ...trainArgs(out, cfg, extra)], env);
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function metricsOf(out: string): Metrics {
  const p = join(out, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Metrics[number]);
}

/** A process that exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const key = (m: Metrics[number]) => [m.step, m.loss, m.lr, m.grad_norm];

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, TINY_MODEL);
  mkdirSync(CACHE, { recursive: true });
  const r = await runAsync([LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', process.execPath, ...trainArgs(join(tmp.dir, 'whole'), config())], ENV);
  if (r.status !== 0) throw new Error(`uninterrupted run failed:\n${r.stderr}`);
  whole = metricsOf(join(tmp.dir, 'whole'));
}, 300_000);

describe('signals', () => {
  it.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s to a 2-rank launch: both ranks stop after the same step with a checkpoint, exit %i, and the printed command resumes it exactly', async (sig, status) => {
    const out = join(tmp.dir, `sig-${sig}`);
    const run = await launch(out, config());
    await until('step 3', () => metricsOf(out).length >= 3);
    run.child.kill(sig);
    const { code } = await run.done;
    expect(code, run.err()).toBe(status);
    const m = /stopped by (\w+) after step (\d+) of 24: checkpoint saved in (\S+); resume with:\n {2}(.+)\n/.exec(run.out());
    expect(m, run.out()).not.toBeNull();
    const [, by, stepText, dir, command] = m!;
    const step = Number(stepText);
    expect(by).toBe(sig);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(step).toBeLessThan(STEPS);
    expect(dir).toBe(join(out, `checkpoint-${String(step).padStart(6, '0')}`));
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe(`checkpoint-${String(step).padStart(6, '0')}`);
    expect((JSON.parse(readFileSync(join(dir!, 'trainer_state.json'), 'utf8')) as { step: number }).step).toBe(step);
    expect(metricsOf(out).length).toBe(step);
    expect(existsSync(join(out, 'final'))).toBe(false);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    expect(command).toContain('--resume auto');
    // the command as printed, through a shell
    const resumed = spawnSync('bash', ['-c', command!], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', ...ENV } });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`resuming from ${dir} at step ${step}`));
    expect(metricsOf(out).map(key)).toEqual(whole.map(key));
  });

  it('a signal that reaches one rank only (rank 1): both ranks stop after the same step, with a complete checkpoint', async () => {
    const out = join(tmp.dir, 'one-rank');
    const run = await launch(out, config());
    await until('step 3', () => metricsOf(out).length >= 3);
    const ranks = execFileSync('ps', ['-o', 'pid=', '--ppid', String(run.child.pid)], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    const rank1 = ranks.filter((p) => readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes('RANK=1'));
    expect(rank1.length).toBe(1);
    process.kill(rank1[0]!, 'SIGTERM');
    const { code } = await run.done;
    expect(code, run.err()).toBe(143);
    const step = Number(/stopped by SIGTERM after step (\d+) of 24/.exec(run.out())?.[1]);
    expect(step).toBeGreaterThanOrEqual(3);
    const dir = join(out, `checkpoint-${String(step).padStart(6, '0')}`);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe(`checkpoint-${String(step).padStart(6, '0')}`);
    expect(readdirSync(join(dir, 'zero')).sort()).toEqual(['layout.json', 'rank-00000.safetensors', 'rank-00001.safetensors']);
    expect(metricsOf(out).length).toBe(step);
  });

  it('a hostfile launch (2 nodes, ssh replaced by a local shell): SIGINT to the first node stops the other node too, at the same step, exit 130', async () => {
    const dir = join(tmp.dir, 'hosts');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ssh'), '#!/bin/sh\n# ssh -o BatchMode=yes HOST COMMAND\nshift 3\nexec /bin/sh -c "$1"\n');
    chmodSync(join(dir, 'ssh'), 0o755);
    writeFileSync(join(dir, 'hosts'), 'host-a slots=1\nhost-b slots=1\n');
    const out = join(tmp.dir, 'hostfile');
    const run = start([LAUNCH_CLI, '--hostfile', join(dir, 'hosts'), '--master-addr', '127.0.0.1', '--master-port', String(await freePort()), '--', process.execPath, ...trainArgs(out, config())],
      { PATH: `${dir}:${process.env.PATH}`, TELECHAT_RUN_SECRET: '' });
    await until('step 3', () => metricsOf(out).length >= 3);
    run.child.kill('SIGINT');
    const { code } = await run.done;
    expect(code, run.err()).toBe(130);
    const step = Number(/stopped by SIGINT after step (\d+) of 24/.exec(run.out())?.[1]);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe(`checkpoint-${String(step).padStart(6, '0')}`);
    expect(readdirSync(join(out, `checkpoint-${String(step).padStart(6, '0')}`, 'zero')).sort()).toEqual(['layout.json', 'rank-00000.safetensors', 'rank-00001.safetensors']);
    expect(run.err()).toContain('[node 1] telechat-launch: rank 1 stopped after SIGINT (exit 130)');
    expect(run.err()).not.toMatch(/lost the launching node|exited with code|last stderr lines/);
  });

  it('a second signal kills at once, even inside a long save (launcher and a single process)', async () => {
    // pause:save:after-shards blocks the save for a minute, as a slow disk would
    const out = join(tmp.dir, 'twice');
    const run = await launch(out, config(), { TELECHAT_FAULT_AT: 'pause:save:after-shards' });
    await until('step 3', () => metricsOf(out).length >= 3);
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.done;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(code).toBe(130);
    expect(run.err()).toMatch(/received SIGINT again; killing all ranks/);
    expect(existsSync(join(out, 'latest'))).toBe(false); // the interrupted save never completed

    const single = start(trainArgs(join(tmp.dir, 'twice-single'), zeroConfig(0, 6, 2, STEPS, {}, { save_steps: 1000 })), { TELECHAT_FAULT_AT: 'pause:save:after-shards' });
    await until('step 3', () => metricsOf(join(tmp.dir, 'twice-single')).length >= 3);
    single.child.kill('SIGINT');
    await until('the stop notice', () => /received SIGINT: finishing this step/.test(single.err()));
    await new Promise((r) => setTimeout(r, 1500));
    const t1 = Date.now();
    single.child.kill('SIGINT'); // the process is inside the (paused) save: only the default action can end it
    const r = await single.done;
    expect(Date.now() - t1).toBeLessThan(2000);
    expect(r.signal).toBe('SIGINT');
  });
});

describe('disk full during a save', () => {
  const expectFullDiskHandled = (out: string, stderr: string, failedStep: number, validStep: number): void => {
    const failed = `checkpoint-${String(failedStep).padStart(6, '0')}`;
    const valid = join(out, `checkpoint-${String(validStep).padStart(6, '0')}`);
    // the rank that ran out of room says so (which one, on a real disk, is a race); the others say a peer failed
    expect(stderr).toMatch(new RegExp(`cannot save ${failed} in ${out} \\(rank [01]\\): ENOSPC: no space left on device`));
    expect(stderr).toContain(`The partial ${join(out, failed)}.tmp was removed. ${valid} is still the latest valid checkpoint (continue with --resume auto once there is room)`);
    expect(stderr).toMatch(/A checkpoint needs about \d+\.\d MiB; \d+\.\d MiB free there now\./);
    expect(readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe(`checkpoint-${String(validStep).padStart(6, '0')}`);
  };

  it('ENOSPC (injected) in the HF export of the second save on 2 ranks, ZeRO-3: clear error, no temp dir, the first checkpoint resumes', async () => {
    const out = join(tmp.dir, 'enospc');
    const cfg = zeroConfig(3, 3, 2, 12, {}, { save_steps: 4 });
    const run = await launch(out, cfg, { TELECHAT_FAULT_AT: 'enospc:save:after-hf@8' });
    const { code } = await run.done;
    expect(code).toBe(1);
    expectFullDiskHandled(out, run.err(), 8, 4);
    const m = await runTrain(fx, out, 2, cfg, await freePort(), ['--resume', 'auto']);
    expect(m.map((x) => x.step)).toEqual([...Array(12).keys()].map((i) => i + 1));
  });

  it('a real full filesystem (tmpfs sized for two checkpoints) gives the same', async () => {
    const mnt = join(tmp.dir, 'small');
    mkdirSync(mnt);
    // sized from a checkpoint of the uninterrupted run: the data and two checkpoints fit, a third does not
    const ckptBytes = Number(execFileSync('du', ['-sb', join(tmp.dir, 'whole', 'checkpoint-000024')], { encoding: 'utf8' }).split('\t')[0]);
    const size = Math.ceil((2.6 * ckptBytes + 4 * 2 ** 20) / 2 ** 20);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}m`, 'tmpfs', mnt], { encoding: 'utf8' });
    expect(mount.status, `this test mounts a tmpfs and needs root: ${mount.stderr}`).toBe(0);
    mounts.push(mnt);
    const out = join(mnt, 'out');
    const run = await launch(out, zeroConfig(2, 3, 2, 12, {}, { save_steps: 3 }));
    const { code } = await run.done;
    expect(code).toBe(1);
    expect(run.err()).not.toMatch(/injected/);
    const written = readdirSync(out).filter((f) => /^checkpoint-\d{6}$/.test(f)).sort();
    expect(written.length).toBeGreaterThanOrEqual(1);
    const last = Number(written[written.length - 1]!.slice(11));
    expectFullDiskHandled(out, run.err(), last + 3, last);
  });
});

describe('one writer per output dir', () => {
  it('a second run (even --overwrite) into a running run is refused naming it; the first finishes untouched', async () => {
    const out = join(tmp.dir, 'locked');
    const first = await launch(out, config());
    await until('step 2', () => metricsOf(out).length >= 2);
    const holder = JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8')) as { pid: number; host: string };
    const second = await runAsync(trainArgs(out, zeroConfig(2, 6, 2, STEPS), ['--overwrite']), ENV); // one process
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`${out}: output directory is in use by another telechat-train run \\(pid ${holder.pid} on ${holder.host}, started `));
    expect((await first.done).code, first.err()).toBe(0);
    expect(metricsOf(out).map(key)).toEqual(whole.map(key));
    expect(existsSync(join(out, LOCK_FILE))).toBe(false); // released at exit
  });

  it('a lock (and a temp dir) left by a killed run is taken over (removed) with a note', async () => {
    const out = join(tmp.dir, 'stale-lock');
    const killed = start(trainArgs(out, zeroConfig(0, 6, 2, STEPS, {}, { save_steps: 2 })));
    await until('step 3', () => metricsOf(out).length >= 3);
    killed.child.kill('SIGKILL');
    await killed.done;
    expect(existsSync(join(out, LOCK_FILE))).toBe(true);
    mkdirSync(join(out, 'checkpoint-000099.tmp', 'zero'), { recursive: true }); // as a save killed mid-way leaves it
    const r = await runAsync(trainArgs(out, zeroConfig(0, 6, 2, STEPS, {}, { save_steps: 2 }), ['--resume', 'auto']), ENV);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`note: removed ${join(out, 'checkpoint-000099.tmp')}, the unfinished save of an earlier run`);
    expect(existsSync(join(out, 'checkpoint-000099.tmp'))).toBe(false);
    expect(r.stdout).toMatch(new RegExp(`note: ${join(out, LOCK_FILE)} was left by a run that is gone \\(pid ${killed.child.pid} on `));
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });
});

describe('orphans', () => {
  it('kill -9 of telechat-launch: both ranks stop within seconds, say why, and the last checkpoint resumes', async () => {
    const out = join(tmp.dir, 'orphans');
    const cfg = config({ save_steps: 2 });
    const run = await launch(out, cfg);
    await until('step 3', () => metricsOf(out).length >= 3);
    const ranks = execFileSync('ps', ['-o', 'pid=', '--ppid', String(run.child.pid)], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    expect(ranks.length).toBe(2);
    run.child.kill('SIGKILL');
    const t0 = Date.now();
    await until('the ranks to exit', () => ranks.every((p) => !running(p)), 10_000);
    expect(Date.now() - t0).toBeLessThan(5000);
    const log = readFileSync(join(out, 'train.log'), 'utf8');
    for (const r of [0, 1]) expect(log).toContain(`telechat-train: rank ${r}: the launcher (pid ${run.child.pid}) is gone; stopping (the last complete checkpoint in ${out} stays valid)`);
    const m = await runTrain(fx, out, 2, cfg, await freePort(), ['--resume', 'auto']);
    expect(m.map(key)).toEqual(whole.map(key));
  });
});

describe('MFU peak', () => {
  it('is measured at every start and cached as the highest seen; the cached or given peak is what MFU divides by; 2 ranks stay below 100%', async () => {
    const cacheDir = join(tmp.dir, 'mfu-cache');
    const cachePath = join(cacheDir, 'telechat-train', 'peak-flops.json');
    const cfg = zeroConfig(0, 6, 2, 4);
    const run = (name: string, env: Record<string, string> = {}) => runAsync(trainArgs(join(tmp.dir, name), cfg), { XDG_CACHE_HOME: cacheDir, ...env });
    const mfus = (name: string) => metricsOf(join(tmp.dir, name)).map((m) => m.mfu!);
    const a = await run('mfu-a');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`MFU peak: [\\d.e+]+ TFLOP/s per rank \\(fp32 GEMM on 1 thread\\(s\\), measured now, cached in ${cachePath}\\)`));
    const entries = Object.values((JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, { flops: number }> }).entries);
    expect(entries.length).toBe(1);
    // a cached peak 1e6 times higher (as if measured on a quieter day): kept, MFU 1e6 times lower
    // (to timing noise); this start's lower measurement does not replace it
    const scaleCache = (by: number): void => {
      const file = JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, { flops: number }> };
      for (const e of Object.values(file.entries)) e.flops *= by;
      writeFileSync(cachePath, JSON.stringify(file));
    };
    const cachedFlops = (): number => Object.values((JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, { flops: number }> }).entries)[0]!.flops;
    scaleCache(1e6);
    const highest = cachedFlops();
    const b = await run('mfu-b');
    expect(b.stdout).toMatch(new RegExp(`\\(fp32 GEMM on 1 thread\\(s\\), measured \\S+, cached in ${cachePath} \\(the highest so far; this start measured [\\d.e+]+ TFLOP/s\\)\\)`));
    expect(b.stdout).not.toMatch(/measured now/);
    expect(cachedFlops()).toBe(highest);
    // a cached peak 1e6 times lower (as if measured under another job's load): this start's replaces it
    scaleCache(1e-12);
    const raised = await run('mfu-b2');
    expect(raised.stdout).toMatch(new RegExp(`\\(fp32 GEMM on 1 thread\\(s\\), measured now, cached in ${cachePath}\\)`));
    expect(cachedFlops()).toBeGreaterThan(highest * 1e-12 * 1e3);
    const ratio = (xs: number[], ys: number[]) => (xs.reduce((s, x) => s + x, 0) / ys.reduce((s, y) => s + y, 0));
    expect(ratio(mfus('mfu-a'), mfus('mfu-b'))).toBeGreaterThan(1e6 / 5);
    expect(ratio(mfus('mfu-a'), mfus('mfu-b'))).toBeLessThan(1e6 * 5);
    // the override wins over the cache
    const c = await run('mfu-c', { TELECHAT_PEAK_TFLOPS: '1000' });
    expect(c.stdout).toMatch(/MFU peak: 1000 TFLOP\/s per rank \(TELECHAT_PEAK_TFLOPS\)/);
    const bad = await run('mfu-d', { TELECHAT_PEAK_TFLOPS: '0' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/TELECHAT_PEAK_TFLOPS must be a positive number/);
    // a bf16 run's peak is the bf16 GEMM's (oneDNN, several times the fp32 rate here), its own cache entry
    const bf16 = await runAsync(trainArgs(join(tmp.dir, 'mfu-bf16'), zeroConfig(0, 6, 2, 4, { bf16: { enabled: true } })), { XDG_CACHE_HOME: cacheDir });
    expect(bf16.status, bf16.stderr).toBe(0);
    expect(bf16.stdout).toMatch(new RegExp(`MFU peak: [\\d.e+]+ TFLOP/s per rank \\(bf16 GEMM on 1 thread\\(s\\), measured now, cached in ${cachePath}\\)`));
    const keys = Object.keys((JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, unknown> }).entries);
    expect(keys.map((k) => /dtype=(\w+)/.exec(k)![1]).sort()).toEqual(['bf16', 'fp32']);
    // the 2-rank runs of this file: each rank's share of the 2 cores is one thread
    for (const m of [...whole, ...metricsOf(join(tmp.dir, 'locked'))]) expect(m.mfu).toBeLessThan(1);
  });
});
