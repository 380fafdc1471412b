// telechat-train from the command line, as the README runs it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHfSpec } from '../../src/checkpoint/hf.js';
import { makeTmpDir } from '../helpers/tmp.js';

const CLI = resolve('dist/cli/train.js');
const tmp = makeTmpDir('train-cli');
afterAll(() => tmp.cleanup());

function run(args: string[], cwd = tmp.dir) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
}

describe('telechat-train command line', () => {
  it('README main command: trains the shipped tiny model on the shipped data; loss falls; final/ is an HF dir', () => {
    const res = run(['--config', resolve('configs/zero3.json')]);
    expect(res.status, res.stderr).toBe(0);
    const out = join(tmp.dir, 'output', 'zero3');
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.length).toBe(40);
    const losses = metrics.map((m) => m.loss as number);
    const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
    const last = (losses[37]! + losses[38]! + losses[39]!) / 3;
    expect(last).toBeLessThan(first - 0.5);
    for (const key of ['step', 'epoch', 'loss', 'lr', 'grad_norm', 'loss_scale', 'tokens', 'loss_tokens', 'step_time_s', 'tokens_per_s', 'mfu', 'mem']) {
      expect(metrics[0], key).toHaveProperty(key);
    }
    expect(Object.keys(metrics[0]!.mem as object).sort()).toEqual(['activations', 'buffers', 'grads', 'master', 'optim', 'params']);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.model', 'tokenizer_config.json', 'model.safetensors']) {
      expect(existsSync(join(out, 'final', f)), f).toBe(true);
    }
    expect(loadHfSpec(join(out, 'final')).layout).toBe('telechat');
    expect(existsSync(join(out, 'resolved-config.json'))).toBe(true);
    // checkpoints every 20 steps (configs/zero3.json), the newest named by latest
    for (const c of ['checkpoint-000020', 'checkpoint-000040']) {
      for (const f of ['trainer_state.json', 'zero/layout.json', 'zero/rank-00000.safetensors', 'hf/model.safetensors']) expect(existsSync(join(out, c, f)), `${c}/${f}`).toBe(true);
    }
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000040');
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/done: 40 steps/);
    // what preparing the run said (the on-the-fly data build) is in train.log too
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/ data: built .*sample-conversations\.jsonl -> /);
    // a second run into the same dir refuses to overwrite it
    const again = run(['--config', resolve('configs/zero3.json')]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds a run .*--resume auto.*--overwrite/);
  });

  it('--dry-run finds what the run would find first: an earlier run in the way, a missing checkpoint, a model without weights; a failed start leaves no output dir', () => {
    // output/zero3 holds the README run of the test above
    const inTheWay = run(['--config', resolve('configs/zero3.json'), '--dry-run']);
    expect(inTheWay.status).toBe(1);
    expect(inTheWay.stderr).toMatch(/already holds a run .*--resume auto.*--overwrite/);
    const noCheckpoint = run(['--config', resolve('configs/zero3.json'), '--output-dir', 'nowhere', '--resume', join(tmp.dir, 'nowhere'), '--dry-run']);
    expect(noCheckpoint.status).toBe(1);
    expect(noCheckpoint.stderr.trim()).toBe(`telechat-train: --resume ${join(tmp.dir, 'nowhere')}: no such directory`);
    // a directory that is not a checkpoint says so
    const notCheckpoint = run(['--config', resolve('configs/zero3.json'), '--output-dir', 'nowhere', '--resume', tmp.dir, '--dry-run']);
    expect(notCheckpoint.status).toBe(1);
    expect(notCheckpoint.stderr.trim()).toBe(`telechat-train: --resume ${tmp.dir}: not a checkpoint directory (no trainer_state.json)`);
    // an output dir that cannot be one (here a file) is named, --dry-run too, instead of mkdir's errno
    writeFileSync(join(tmp.dir, 'a-file'), '');
    for (const dry of [['--dry-run'], []]) {
      const fileOut = run(['--config', resolve('configs/zero3.json'), '--output-dir', 'a-file/run', ...dry]);
      expect(fileOut.status).toBe(1);
      expect(fileOut.stderr.trim()).toBe(`telechat-train: output dir a-file/run: ${join(tmp.dir, 'a-file')} is a file, not a directory`);
    }
    // data/tiny-model ships a config and tokenizer only: --model means its weights
    for (const dry of [['--dry-run'], []]) {
      const noWeights = run(['--config', resolve('configs/zero3.json'), '--model', resolve('data/tiny-model'), '--output-dir', 'no-weights', ...dry]);
      expect(noWeights.status).toBe(1);
      expect(noWeights.stderr.trim()).toMatch(/^telechat-train: .*tiny-model: no weights found \(model\.safetensors.*\); to train this architecture from random weights, add --init random$/);
      expect(existsSync(join(tmp.dir, 'no-weights'))).toBe(false);
    }
    // raw data is built inside the output dir, which the run creates; a bad line removes it again
    writeFileSync(join(tmp.dir, 'bad.jsonl'), '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{"messages": oops\n');
    const badData = run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'bad.jsonl'), '--output-dir', 'bad-data']);
    expect(badData.status).toBe(1);
    expect(badData.stderr).toContain('bad.jsonl:2:');
    expect(existsSync(join(tmp.dir, 'bad-data'))).toBe(false);
    // ... also the parents it created, and nothing is added to a dir that was there
    const nested = run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'bad.jsonl'), '--output-dir', 'n1/n2/n3']);
    expect(nested.status).toBe(1);
    expect(existsSync(join(tmp.dir, 'n1'))).toBe(false);
    mkdirSync(join(tmp.dir, 'existing'));
    writeFileSync(join(tmp.dir, 'existing', 'notes.txt'), 'mine\n');
    expect(run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'bad.jsonl'), '--output-dir', 'existing']).status).toBe(1);
    expect(readdirSync(join(tmp.dir, 'existing'))).toEqual(['notes.txt']);
    // --overwrite of the README run with data that fails: the earlier run is put back as it was
    const out = join(tmp.dir, 'output', 'zero3');
    const before = readdirSync(out).sort();
    const metrics = readFileSync(join(out, 'metrics.jsonl'));
    const overwrite = run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'bad.jsonl'), '--overwrite']);
    expect(overwrite.status).toBe(1);
    expect(overwrite.stderr).toContain('bad.jsonl:2:');
    expect(readdirSync(out).sort()).toEqual(before);
    expect(readFileSync(join(out, 'metrics.jsonl')).equals(metrics)).toBe(true);
    // a resume on other data is refused by --dry-run as by the run, which leaves no new build in data/
    const sample = readFileSync(resolve('data/sample-conversations.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(tmp.dir, 'other.jsonl'), sample.slice(0, 200).join('\n') + '\n');
    const dataBefore = readdirSync(join(out, 'data')).sort();
    for (const dry of [['--dry-run'], []]) {
      const other = run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'other.jsonl'), '--resume', 'auto', ...dry]);
      expect(other.status).toBe(1);
      expect(other.stderr).toMatch(/cannot resume a different run: dataset/);
      expect(readdirSync(join(out, 'data')).sort()).toEqual(dataBefore);
    }
    // a resume shorter than the checkpoint is refused; one as long as it has nothing to train and writes nothing
    const shorter = run(['--config', resolve('configs/zero3.json'), '--resume', 'auto', '--max-steps', '30']);
    expect(shorter.status).toBe(1);
    expect(shorter.stderr).toMatch(/the checkpoint is at step 40, past the run's 30 steps .*raise --max-steps to continue it/);
    const finalBefore = statSync(join(out, 'final', 'model.safetensors')).mtimeMs;
    const logBefore = readFileSync(join(out, 'train.log'));
    const resolvedBefore = readFileSync(join(out, 'resolved-config.json'));
    const same = run(['--config', resolve('configs/zero3.json'), '--resume', 'auto']);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/done: nothing to train: .*checkpoint-000040 is the run's last step, and .*final holds its model/);
    expect(readFileSync(join(out, 'train.log')).equals(logBefore)).toBe(true);
    expect(readFileSync(join(out, 'resolved-config.json')).equals(resolvedBefore)).toBe(true);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000040');
    expect(readFileSync(join(out, 'metrics.jsonl')).equals(metrics)).toBe(true);
    expect(readdirSync(out).sort()).toEqual(before);
    expect(statSync(join(out, 'final', 'model.safetensors')).mtimeMs).toBe(finalBefore);
    // a run stopped between its last checkpoint and final/: the resume writes final/ from the checkpoint
    const copy = join(tmp.dir, 'output', 'zero3-no-final');
    cpSync(out, copy, { recursive: true });
    rmSync(join(copy, 'final'), { recursive: true });
    const writesFinal = run(['--config', resolve('configs/zero3.json'), '--resume', 'auto', '--output-dir', 'output/zero3-no-final']);
    expect(writesFinal.status, writesFinal.stderr).toBe(0);
    expect(writesFinal.stdout).toMatch(/done: nothing to train: the checkpoint is at step 40, the run's last; final model written in/);
    expect(readFileSync(join(copy, 'final', 'model.safetensors')).equals(readFileSync(join(out, 'final', 'model.safetensors')))).toBe(true);
    // and one that starts replaces it, leaving nothing of it behind
    const replaced = run(['--config', resolve('configs/zero3.json'), '--max-steps', '2', '--output-dir', 'output/zero3-copy']);
    expect(replaced.status, replaced.stderr).toBe(0);
    const again = run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', 'output/zero3-copy', '--overwrite']);
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(tmp.dir, 'output', 'zero3-copy', 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(readdirSync(join(tmp.dir, 'output', 'zero3-copy')).filter((f) => f.startsWith('.replaced-') || f.startsWith('checkpoint-000002'))).toEqual([]);
  });

  it('--overwrite replaces the earlier run\'s files only: the user\'s own files, inputs among them, stay', () => {
    const out = join(tmp.dir, 'own-files');
    expect(run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', out]).status).toBe(0);
    writeFileSync(join(out, 'notes.txt'), 'mine\n');
    writeFileSync(join(out, 'train.jsonl'), readFileSync(resolve('data/sample-conversations.jsonl')));
    const again = run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', out, '--overwrite', '--data', join(out, 'train.jsonl')]);
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(out, 'train.jsonl'))).toBe(true);
    // an input inside a file --overwrite replaces (the earlier run's final/) is refused up front
    const fromFinal = run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', out, '--overwrite', '--model', join(out, 'final')]);
    expect(fromFinal.status).toBe(1);
    expect(fromFinal.stderr.trim()).toBe(`telechat-train: --model ${join(out, 'final')} is in ${join(out, 'final')}, which --overwrite replaces: copy it out of ${out} first, or write the new run to another --output-dir`);
    expect(existsSync(join(out, 'final', 'model.safetensors'))).toBe(true);
  });

  it('a run set aside by an --overwrite that was killed is put back by the next start, never deleted', () => {
    const out = join(tmp.dir, 'killed-overwrite');
    expect(run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', out]).status).toBe(0);
    const files = readdirSync(out).sort();
    // what a SIGKILLed --overwrite start leaves: the run's files moved into .replaced-* (data/ stays),
    // and the killed start's own empty metrics.jsonl
    const aside = join(out, '.replaced-12345');
    mkdirSync(aside);
    for (const f of files) if (f !== 'data') renameSync(join(out, f), join(aside, f));
    writeFileSync(join(out, 'metrics.jsonl'), '');
    // a new start without --overwrite: the run comes back, and it is refused as an earlier run
    const next = run(['--config', resolve('configs/zero3.json'), '--max-steps', '1', '--output-dir', out]);
    expect(next.status).toBe(1);
    expect(next.stdout).toContain(`note: put back the run an interrupted --overwrite had set aside in ${aside}`);
    expect(next.stderr).toMatch(/already holds a run/);
    expect(readdirSync(out).sort()).toEqual(files);
  });

  it('raw data built on the fly says what became of each source, what it skipped (data.skip_bad) and which keys it did not read', () => {
    const good = readFileSync(resolve('data/sample-conversations.jsonl'), 'utf8').trim().split('\n');
    const lines = [...good.slice(0, 3).map((l) => JSON.stringify({ ...JSON.parse(l), category: 'chat' })), ...good.slice(3), '{"messages": oops'];
    writeFileSync(join(tmp.dir, 'skip.jsonl'), lines.join('\n') + '\n');
    const res = run(['--config', resolve('configs/zero3.json'), '--data', join(tmp.dir, 'skip.jsonl'), '--set', 'data.skip_bad=true', '--output-dir', 'skip', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    // kept, truncated and dropped conversations, as telechat-data build prints them (22 of the shipped
    // conversations are longer than zero3.json's data.max_seq_len and lose their oldest turns)
    expect(res.stdout).toContain(
      `data: source ${join(tmp.dir, 'skip.jsonl')} (weight 1): 361 lines, 360 read, kept 338, truncated 22, dropped 0, skipped malformed-json 1\n`,
    );
    expect(res.stdout).toContain(`note: source ${join(tmp.dir, 'skip.jsonl')}: skipped 1 bad line(s) (data.skip_bad): malformed-json 1`);
    expect(res.stdout).toContain(`note: source ${join(tmp.dir, 'skip.jsonl')}: key "category" on 3 line(s) is not read by its format (not training input)`);
  });

  it('a schedule that needs the run length (warmup_ratio) takes it from epochs over the dataset', () => {
    const cfg = JSON.parse(readFileSync(resolve('configs/zero1.json'), 'utf8')) as { training: Record<string, unknown>; scheduler: unknown };
    delete cfg.training.max_steps;
    expect(cfg.scheduler).toEqual({ type: 'cosine', params: { warmup_ratio: 0.1 } });
    writeFileSync(join(tmp.dir, 'epochs.json'), JSON.stringify(cfg));
    const res = run(['--config', join(tmp.dir, 'epochs.json'), '--epochs', '1', '--output-dir', 'epochs', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    // 168 rows of the shipped data in global batches of 4: 42 steps, ceil(0.1 x 42) = 5 of warm-up
    expect(res.stdout).toMatch(/"total_steps": 42/);
    expect(res.stdout).toMatch(/"warmup_num_steps": 5/);
    // and the schedules that compare the length with their warm-up
    for (const scheduler of [
      { type: 'WarmupCosineLR', params: { total_num_steps: 'auto', warmup_num_steps: 5 } },
      { type: 'cosine', params: { warmup_num_steps: 5 } },
      { type: 'WarmupDecayLR', params: { total_num_steps: 'auto', warmup_num_steps: 5 } },
      // a ratio of the (epoch) length against an explicit total
      { type: 'cosine', params: { warmup_ratio: 0.1, total_num_steps: 42 } },
    ]) {
      const r = run(['--config', join(tmp.dir, 'epochs.json'), '--epochs', '1', '--output-dir', 'epochs', '--set', `scheduler=${JSON.stringify(scheduler)}`, '--dry-run']);
      expect(r.status, `${scheduler.type}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/"total_num_steps": 42/);
    }
  });

  it('--dry-run resolves everything, prints the plan, writes no output', () => {
    const res = run(['--config', resolve('configs/zero2.json'), '--output-dir', 'dry', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/"train_batch_size": 4/);
    // the capacity plan of telechat-plan (src/plan), for this world size and device
    expect(res.stdout).toMatch(/ZeRO stage 2, fp32 \(gradients fp32\)/);
    expect(res.stdout).toMatch(/memory per rank:\n\s+params\s+[\d.]+ MiB/);
    expect(res.stdout).toMatch(/verdict: fits/);
    expect(existsSync(join(tmp.dir, 'dry'))).toBe(false);
  });

  it('--dry-run prints the warnings the run would print (formerly silent keys)', () => {
    const cfg = join(tmp.dir, 'silent.json');
    const silent = {
      train_micro_batch_size_per_gpu: 2,
      prescale_gradients: true,
      gradient_predivide_factor: 2,
      communication_data_type: 'bf16',
      zero_optimization: { stage: 3, stage3_max_live_parameters: 1e8, offload_optimizer: { device: 'cpu' } },
      activation_checkpointing: { cpu_checkpointing: true },
      data: { max_seq_len: 128 },
      training: { max_steps: 2 },
    };
    writeFileSync(cfg, JSON.stringify(silent));
    const res = run(['--config', cfg, '--output-dir', 'dry-silent', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    for (const key of ['prescale_gradients', 'gradient_predivide_factor', 'communication_data_type', 'zero_optimization.stage3_max_live_parameters',
      'activation_checkpointing.cpu_checkpointing']) {
      expect(res.stdout, key).toContain(`warning: ${cfg}: "${key}": `);
    }
    expect(res.stdout.match(/^warning: .* has no effect in telechat-train \(.+\)$/gm)).toHaveLength(5);
    expect(res.stdout).toMatch(/dry run: configuration, model and data are valid/);
    expect(existsSync(join(tmp.dir, 'dry-silent'))).toBe(false);
  });

  it('--dry-run loads a LLaMA-Factory autotp-shaped config with a _comment key', () => {
    const cfg = resolve('test/unit/fixtures/llamafactory/ds_z2_autotp_config.json');
    const res = run(['--config', cfg, '--max-seq-len', '128', '--max-steps', '2', '--output-dir', 'dry-autotp', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain(`warning: ${cfg}: "tensor_parallel" is accepted but has no effect in telechat-train (tensor parallel size 1 is plain data parallelism)`);
    expect(res.stdout).not.toContain('_comment');
    expect(res.stdout).toMatch(/dry run: configuration, model and data are valid/);
    // LLaMA-Factory's own value (2) asks for tensor parallelism: refused by name, not "did you mean"
    const tp2 = run(['--config', cfg, '--set', 'tensor_parallel.autotp_size=2', '--dry-run']);
    expect(tp2.status).toBe(1);
    expect(tp2.stderr).toMatch(/"tensor_parallel\.autotp_size": 2 is not supported: telechat-train has no tensor parallelism/);
    expect(tp2.stderr).not.toMatch(/did you mean/);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['missing model dir', ['--model', '/nonexistent/model'], /--model: \/nonexistent\/model does not exist/],
    ['missing data', ['--data', '/nonexistent/data.jsonl'], /--data: \/nonexistent\/data.jsonl does not exist/],
    // one file twice in --data is named by that flag (the build under it says --input to telechat-data's users)
    ['data given twice', ['--data', 'data/sample-conversations.jsonl,./data/sample-conversations.jsonl'], /^telechat-train: --data: \.\/data\/sample-conversations\.jsonl is given twice \(also as data\/sample-conversations\.jsonl\)/],
    ['missing eval data past a trailing comma', ['--eval-data', '/nonexistent/val.jsonl,'], /--eval-data: \/nonexistent\/val.jsonl does not exist/],
    ['unknown config key', ['--set', 'zero_optimization.stage3_prefetch_bucket_sz=5'], /unknown key "zero_optimization.stage3_prefetch_bucket_sz".*stage3_prefetch_bucket_size/],
    ['model config without random init', ['--model-config', 'data/tiny-model/config.json'], /pass --init random/],
    // this machine has no GPU (and CI builds with nvcc); configs/zero1.json trains in fp32
    ['cuda without a GPU', ['--device', 'cuda'], /--device cuda: (no GPU is visible|this build has no CUDA backend)/],
  ];
  it.each(bad)('clear error, exit 1, no stack trace: %s', (_what, args, message) => {
    const res = spawnSync(process.execPath, [CLI, '--config', resolve('configs/zero1.json'), '--output-dir', join(tmp.dir, 'bad'), ...args], { cwd: resolve('.'), encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp.dir, 'bad', 'metrics.jsonl'))).toBe(false);
  });

  it('README LoRA command: --set lora.r / lora.alpha / lora.target_modules=all-linear writes that PEFT adapter', () => {
    const res = run(['--config', resolve('configs/zero2.json'), '--output-dir', 'lora-readme', '--max-steps', '2',
      '--set', 'lora.r=16', '--set', 'lora.alpha=32', '--set', 'lora.target_modules=all-linear']);
    expect(res.status, res.stderr).toBe(0);
    const adapter = JSON.parse(readFileSync(join(tmp.dir, 'lora-readme', 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(adapter.r).toBe(16);
    expect(adapter.lora_alpha).toBe(32);
    expect(adapter.target_modules).toEqual(['query', 'key_value', 'dense', 'gate_proj', 'up_proj', 'down_proj']);
    expect(existsSync(join(tmp.dir, 'lora-readme', 'adapter', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'lora-readme', 'final', 'config.json'))).toBe(true);
  });

  it('--help lists the options with examples', () => {
    const res = run(['--help']);
    expect(res.status).toBe(0);
    for (const flag of ['--config', '--model', '--init', '--model-config', '--data', '--output-dir', '--max-steps', '--epochs', '--seed', '--resume', '--overwrite', '--device', '--set', '--dry-run', '--verbose']) {
      expect(res.stdout).toContain(flag);
    }
    expect(res.stdout).toMatch(/Examples:/);
  });
});
