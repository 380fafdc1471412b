// telechat-export stopped by Ctrl-C (SIGINT) or SIGTERM while it writes: the hidden temporary
// beside --output is removed, one line says so, the exit status is 130 / 143, and an existing
// output (--overwrite) is left as it was; one killed outright (SIGKILL) leaves it, and the next
// export to that output deletes it; the same for telechat-chat converting a directory into
// its GGUF cache, whose next conversion also deletes what killed conversions left. The model is
// large enough (random, 40M parameters) that the export is still writing when the signal arrives.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportHf } from '../../src/checkpoint/hf_export.js';
import { temporaryHost } from '../../src/checkpoint/temporaries.js';
import { initRandom } from '../../src/model/init.js';
import { buildParamTable, FlatParams } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { DType, MemCategory } from '../../src/native/tensor.js';
import { runAsync } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const CHAT_CLI = resolve('dist/cli/chat.js');
const tmp = makeTmpDir('export-interrupt');
afterAll(() => tmp.cleanup());
const model = join(tmp.dir, 'model');

beforeAll(() => {
  const base = join(tmp.dir, 'base');
  mkdirSync(base);
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(base, f));
  const cfg = { ...JSON.parse(readFileSync('data/tiny-model/config.json', 'utf8')), hidden_size: 256, n_layer: 8, ffn_hidden_size: 704, vocab_size: 64000 };
  writeFileSync(join(base, 'config.json'), JSON.stringify(cfg));
  const spec = parseModelSpec(cfg);
  const params = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
  try {
    initRandom(params, 0.02, 1);
    exportHf(params, spec, base, model, { dtype: 'bf16' });
  } finally {
    params.free();
  }
}, 120_000);

/**
 * Runs `cli args` and sends `signal` once the temporary `tempOf(pid)` (a path) exists; the exit,
 * stderr and that path.
 */
function interrupted(cli: string, args: string[], tempOf: (pid: number) => string | null, signal: NodeJS.Signals, env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string; temp: string | null }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, OMP_NUM_THREADS: '1', ...env } });
    let stderr = '';
    let temp: string | null = null;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stderr, temp }));
    const poll = (): void => {
      if (child.exitCode !== null) return;
      temp = tempOf(child.pid!);
      if (temp !== null) child.kill(signal);
      else setTimeout(poll, 1);
    };
    poll();
  });
}

/** The export's temporary beside `output` (`.NAME.tmp-HOST-PID`, either format), once it exists. */
const besideOutput = (output: string) => (pid: number): string | null => {
  const temp = join(tmp.dir, `.${basename(output)}.tmp-${temporaryHost()}-${pid}`);
  return existsSync(temp) ? temp : null;
};

const leftovers = (): string[] => readdirSync(tmp.dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'));

/** A pid no process has now: that of a child that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

describe('telechat-export interrupted', () => {
  it('--format gguf, SIGTERM: the temporary file removed, exit 143, one line', async () => {
    const out = join(tmp.dir, 'model.gguf');
    const r = await interrupted(EXPORT_CLI, ['--model', model, '--format', 'gguf', '--output', out], besideOutput(out), 'SIGTERM');
    expect(r.status, r.stderr).toBe(143);
    expect(r.stderr).toBe('telechat-export: stopped by SIGTERM; the partial output is removed, nothing was written\n');
    expect(existsSync(r.temp!)).toBe(false);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('--format gguf, SIGHUP (a dropped ssh session): the temporary file removed, exit 129', async () => {
    const out = join(tmp.dir, 'hup.gguf');
    const r = await interrupted(EXPORT_CLI, ['--model', model, '--format', 'gguf', '--output', out], besideOutput(out), 'SIGHUP');
    expect(r.status, r.stderr).toBe(129);
    expect(existsSync(r.temp!)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('HF (--dtype fp16), Ctrl-C over an existing output with --overwrite: the temporary dir removed, exit 130, the old output kept', async () => {
    const out = join(tmp.dir, 'exported');
    const first = await runAsync([EXPORT_CLI, '--model', model, '--output', out, '--dtype', 'bf16']);
    expect(first.status, first.stderr).toBe(0);
    const before = readFileSync(join(out, 'model.safetensors'));
    const r = await interrupted(EXPORT_CLI, ['--model', model, '--dtype', 'fp16', '--overwrite', '--output', out], besideOutput(out), 'SIGINT');
    expect(r.status, r.stderr).toBe(130);
    expect(r.stderr).toBe('telechat-export: stopped by SIGINT; the partial output is removed, nothing was written\n');
    expect(existsSync(r.temp!)).toBe(false);
    expect(readFileSync(join(out, 'model.safetensors')).equals(before)).toBe(true);
    expect(leftovers()).toEqual([]);
  });
});

describe('telechat-export killed outright (SIGKILL: no handler runs)', () => {
  for (const gguf of [false, true]) {
    it(`${gguf ? 'GGUF' : 'HF'}: the next export to that output deletes the temporary and says so; a live process's and another host's are kept`, async () => {
      const out = join(tmp.dir, gguf ? 'killed.gguf' : 'killed');
      const args = ['--model', model, '--output', out, ...(gguf ? ['--format', 'gguf'] : ['--dtype', 'fp16'])];
      const r = await interrupted(EXPORT_CLI, args, besideOutput(out), 'SIGKILL');
      expect(r.status).toBe(null);
      expect(existsSync(r.temp!)).toBe(true);
      const name = `.${basename(out)}.tmp-`;
      const live = join(tmp.dir, `${name}${temporaryHost()}-${process.pid}`);
      // another host's, whose pid means nothing here (an output dir shared over NFS)
      const otherHost = join(tmp.dir, `${name}${temporaryHost()}x-${deadPid()}`);
      // another output's temporary
      const otherOutput = join(tmp.dir, `.other.tmp-${temporaryHost()}-${deadPid()}`);
      for (const f of [live, otherHost, otherOutput]) writeFileSync(f, 'partial');
      const again = await runAsync([EXPORT_CLI, ...args]);
      expect(again.status, again.stderr).toBe(0);
      expect(again.stderr).toBe(`telechat-export: deleted ${r.temp!} (left by an export that was killed)\n`);
      expect(existsSync(r.temp!)).toBe(false);
      for (const f of [live, otherHost, otherOutput]) expect(existsSync(f), f).toBe(true);
      expect(existsSync(out)).toBe(true);
      for (const f of [live, otherHost, otherOutput]) rmSync(f);
      expect(leftovers()).toEqual([]);
    });
  }
});

describe('an output that appears while the export writes (another export to the same path)', () => {
  /** Runs the export and writes `output` as soon as the export's temporary exists. */
  function racing(args: string[], output: string, make: () => void): Promise<{ status: number | null; stderr: string }> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [EXPORT_CLI, ...args], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', fail);
      child.on('close', (status) => done({ status, stderr }));
      const poll = (): void => {
        if (child.exitCode !== null) return;
        if (besideOutput(output)(child.pid!) !== null) make();
        else setTimeout(poll, 1);
      };
      poll();
    });
  }

  it('GGUF without --overwrite: refused at the end, the other file kept, no temporary', async () => {
    const out = join(tmp.dir, 'raced.gguf');
    const r = await racing(['--model', model, '--format', 'gguf', '--output', out], out, () => writeFileSync(out, 'the other export'));
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toBe(`telechat-export: ${out}: output file appeared during the export (pass --overwrite to replace it); nothing was written\n`);
    expect(readFileSync(out, 'utf8')).toBe('the other export');
    expect(leftovers()).toEqual([]);
    rmSync(out);
  });

  it('HF without --overwrite: refused at the end, the other dir kept, no temporary', async () => {
    const out = join(tmp.dir, 'raced');
    const r = await racing(['--model', model, '--output', out], out, () => {
      mkdirSync(out);
      writeFileSync(join(out, 'keep'), 'x');
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/output directory appeared during the export/);
    expect(readdirSync(out)).toEqual(['keep']);
    expect(leftovers()).toEqual([]);
    rmSync(out, { recursive: true });
  });
});

describe("telechat-chat's conversion into the GGUF cache", () => {
  const home = join(tmp.dir, 'home');
  const cache = join(home, '.cache', 'telechat-train', 'gguf');
  const inCache = (pid: number, dir = cache): string | null => {
    const name = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith(`.gguf.tmp-${temporaryHost()}-${pid}`)) : undefined;
    return name === undefined ? null : join(dir, name);
  };

  it('SIGTERM while converting: the temporary removed, exit 143', async () => {
    const r = await interrupted(CHAT_CLI, [model, '--prompt', 'hi', '--max-tokens', '1', '--threads', '1'], inCache, 'SIGTERM', { HOME: home });
    expect(r.status, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/^telechat-chat: converting .* \(fp16, once\)\ntelechat-chat: stopped by SIGTERM while converting; its temporary file is removed\n$/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('another telechat-chat that converted the same model meanwhile: this one replaces its file (the same bytes) and chats', async () => {
    // a home of its own: the other tests' conversions must not find this one's cached file
    const home2 = join(tmp.dir, 'home2');
    const cache2 = join(home2, '.cache', 'telechat-train', 'gguf');
    const done = await new Promise<{ status: number | null; stderr: string; made: string | null }>((resolve_, fail) => {
      const child = spawn(process.execPath, [CHAT_CLI, model, '--prompt', 'hi', '--max-tokens', '1', '--threads', '1', '--temperature', '0'], { env: { ...process.env, OMP_NUM_THREADS: '1', HOME: home2 } });
      let stderr = '';
      let made: string | null = null;
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', fail);
      child.on('close', (status) => resolve_({ status, stderr, made }));
      const poll = (): void => {
        if (child.exitCode !== null) return;
        const temp = inCache(child.pid!, cache2);
        if (temp === null) return void setTimeout(poll, 1);
        // what the other conversion renamed into place: .KEY.gguf.tmp-HOST-PID -> KEY.gguf
        made = join(cache2, basename(temp).slice(1).replace(/\.tmp-.*$/, ''));
        writeFileSync(made, 'the other conversion');
      };
      poll();
    });
    expect(done.status, done.stderr).toBe(0);
    expect(done.made).not.toBe(null);
    expect(readFileSync(done.made!).subarray(0, 4).toString()).toBe('GGUF');
    expect(readdirSync(cache2).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('the next conversion deletes the temporaries of killed ones (their process gone), not those of live processes', async () => {
    const dead = deadPid();
    const stale = join(cache, `.000000000000-000000000000000000000000.gguf.tmp-${temporaryHost()}-${dead}`);
    const live = join(cache, `.000000000000-000000000000000000000000.gguf.tmp-${temporaryHost()}-${process.pid}`);
    // another host's, whose pid means nothing here (a home shared over NFS)
    const otherHost = join(cache, `.000000000000-000000000000000000000000.gguf.tmp-${temporaryHost()}x-${dead}`);
    for (const f of [stale, live, otherHost]) writeFileSync(f, 'partial');
    const r = await runAsync([CHAT_CLI, model, '--prompt', 'hi', '--max-tokens', '1', '--threads', '1', '--temperature', '0'], { HOME: home });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`telechat-chat: deleted ${stale} (left by a conversion that was killed)\n`);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(otherHost)).toBe(true);
    expect(readdirSync(cache).filter((f) => f.endsWith('.gguf'))).toHaveLength(1);
  });
});
