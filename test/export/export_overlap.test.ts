// telechat-export never writes over what it reads: an --output that is, contains or lies inside
// the --checkpoint path, the checkpoint its `latest` names, the --model dir, a LoRA adapter dir or
// its base (symbolic links resolved, also links inside them) is refused in one sentence naming
// both, exit 1, before anything is written, even with --overwrite. Inside a dir read in part (an
// output dir: its `latest`; a model dir: config, weights, carried files) only those entries count:
// a GGUF beside a model's weights, or an export into a run's own dir, is written.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsync, TRAIN_CLI } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('export-overlap');
afterAll(() => tmp.cleanup());
const run = join(tmp.dir, 'run');
const exportCli = (args: string[]) => runAsync([EXPORT_CLI, ...args]);

/** Every file under dir (relative path -> bytes), to show that nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else files.set(p, e.isSymbolicLink() ? `link` : readFileSync(join(dir, p)).toString('base64'));
    }
  };
  walk('.');
  return files;
}

beforeAll(async () => {
  const r = await runAsync([TRAIN_CLI, '--config', 'configs/zero3.json', '--max-steps', '2', '--output-dir', run]);
  if (r.status !== 0) throw new Error(`telechat-train failed:\n${r.stderr}`);
}, 120_000);

/** Runs the export and expects the one-sentence refusal, with nothing under tmp.dir changed. */
async function refused(args: string[], output: string, message: RegExp): Promise<void> {
  const before = snapshot(tmp.dir);
  const r = await exportCli([...args, '--output', output, '--overwrite']);
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr.startsWith(`telechat-export: ${output}: --output `), r.stderr).toBe(true);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toMatch(/, which the export reads: write the export elsewhere\n$/);
  expect(snapshot(tmp.dir)).toEqual(before);
}

describe('an --output over what telechat-export reads is refused, even with --overwrite', () => {
  it('--checkpoint RUN: the run itself, one of its checkpoints, its latest file, a rank file of its ZeRO state', async () => {
    const ckpt = join(run, readFileSync(join(run, 'latest'), 'utf8').trim());
    const rank = join(ckpt, 'zero', readdirSync(join(ckpt, 'zero')).find((f) => f.startsWith('rank-'))!);
    for (const format of ['hf', 'gguf']) {
      const args = ['--checkpoint', run, '--format', format];
      await refused(args, run, new RegExp(`--output is the --checkpoint dir ${run},`));
      await refused(args, ckpt, new RegExp(`--output is the checkpoint ${ckpt},`));
      await refused(args, join(run, 'latest'), new RegExp(`--output lies inside the --checkpoint dir ${run},`));
      await refused(args, rank, new RegExp(`--output lies inside the checkpoint ${ckpt},`));
      await refused(args, tmp.dir, new RegExp(`--output contains the --checkpoint dir ${run},`));
    }
    // a checkpoint dir given directly: its hf/ is read too
    await refused(['--checkpoint', ckpt], join(ckpt, 'hf'), new RegExp(`--output lies inside the --checkpoint dir ${ckpt},`));
  });

  it('--model M: M, its parent, a file of M it reads (its weights, its config)', async () => {
    const m = join(run, 'final');
    await refused(['--model', m], m, new RegExp(`--output is the model dir ${m},`));
    await refused(['--model', m], run, new RegExp(`--output contains the model dir ${m},`));
    await refused(['--model', m, '--format', 'gguf'], join(m, 'model.safetensors'), new RegExp(`--output lies inside the model dir ${m},`));
    await refused(['--model', m, '--format', 'gguf'], join(m, 'config.json'), /--output lies inside the model dir/);
  });

  it('symbolic links: to the model, above the output, as the output, and inside the model (an HF cache snapshot)', async () => {
    const m = join(run, 'final');
    const link = join(tmp.dir, 'model-link');
    symlinkSync(m, link);
    await refused(['--model', link, '--format', 'gguf'], join(m, 'model.safetensors'), new RegExp(`--output lies inside the model dir ${link} \\(${m}\\),`));
    await refused(['--model', m, '--format', 'gguf'], join(link, 'tokenizer.model'), /--output lies inside the model dir/);
    await refused(['--model', m], link, new RegExp(`--output is the model dir ${m},`));
    // snapshots/x holds links to ../../blobs: the blobs are what the export reads
    const hub = join(tmp.dir, 'hub');
    mkdirSync(join(hub, 'blobs'), { recursive: true });
    mkdirSync(join(hub, 'snapshots', 'x'), { recursive: true });
    for (const f of readdirSync(m)) {
      cpSync(join(m, f), join(hub, 'blobs', `${f}.blob`));
      symlinkSync(join('..', '..', 'blobs', `${f}.blob`), join(hub, 'snapshots', 'x', f));
    }
    const snap = join(hub, 'snapshots', 'x');
    await refused(['--model', snap], join(hub, 'blobs'), new RegExp(`--output contains ${join(hub, 'blobs')}/\\S+ \\(the target of ${snap}/\\S+ in the model dir ${snap}\\),`));
    await refused(['--model', snap, '--format', 'gguf'], join(hub, 'blobs', 'model.safetensors.blob'), /--output is \S+model\.safetensors\.blob \(the target of/);
  });

  it('a LoRA adapter dir and its base (--model, else base_model_name_or_path): refused before either is opened', async () => {
    const base = join(run, 'final');
    const adapter = join(tmp.dir, 'adapter');
    mkdirSync(adapter);
    writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: ['query'], base_model_name_or_path: base }));
    for (const format of ['hf', 'gguf']) {
      await refused(['--checkpoint', adapter, '--format', format], join(base, format === 'gguf' ? 'model.safetensors' : 'generation_config.json'), new RegExp(`--output lies inside the base model dir ${base},`));
      await refused(['--checkpoint', adapter, '--model', base, '--format', format], base, new RegExp(`--output is the base model dir ${base},`));
      await refused(['--checkpoint', adapter, '--format', format], join(adapter, 'merged'), new RegExp(`--output lies inside the --checkpoint dir ${adapter},`));
    }
  });

  it('an output beside the inputs is written as before', async () => {
    const out = join(tmp.dir, 'exported');
    const r = await exportCli(['--checkpoint', run, '--output', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const gguf = await exportCli(['--model', join(run, 'final'), '--format', 'gguf', '--output', join(tmp.dir, 'model.gguf')]);
    expect(gguf.status, gguf.stderr).toBe(0);
  });

  it('an output among entries the export does not read: a GGUF in the run\'s dir or beside a model\'s weights, final/ again', async () => {
    for (const args of [
      ['--checkpoint', run, '--format', 'gguf', '--output', join(run, 'model.gguf')],
      ['--checkpoint', run, '--output', join(run, 'merged')],
      ['--checkpoint', run, '--dtype', 'bf16', '--output', join(run, 'final'), '--overwrite'], // final/ is not read: latest's checkpoint is
      ['--model', join(run, 'final'), '--format', 'gguf', '--output', join(run, 'final', 'model.gguf')], // llama.cpp's own layout
    ]) {
      const r = await exportCli(args);
      expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(0);
    }
    expect(readFileSync(join(run, 'final', 'model.gguf')).subarray(0, 4).toString()).toBe('GGUF');
  });
});
