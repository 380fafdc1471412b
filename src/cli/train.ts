#!/usr/bin/env node
// telechat-train: fine-tune a TeleChat model from a DeepSpeed config (thin: parse, call, print).
import { helpWidth, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { loadConfig, resolvedConfigJson, type ConfigFlags } from '../config/index.js';
import { formatPlan, planOfConfig } from '../plan/from_config.js';
import { train } from '../train/trainer.js';
import { backendFor, resolveDevice, type DeviceFlag } from '../train/device.js';
import { prepareRun } from '../train/setup.js';
import { discoverRank } from '../distributed/env.js';
import { initDistributed } from '../distributed/init.js';
import { offloadNotes } from '../zero/offload.js';
import { watchLauncher } from '../distributed/parent_watch.js';
import { launcherArgvFromEnv, resumeCommand } from '../train/resume_command.js';
import { signalNumber } from '../distributed/signals.js';
import { REPEAT_WINDOW_MS, StoppedBeforeStart, StopRequest } from '../train/stop.js';
import { evalEvery } from '../train/evaluate.js';
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

// Output to a launcher that died (a closed pipe) must not crash the rank: the launcher watch
// below stops it with a line in train.log.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

const EXAMPLES: [string, string][] = [
  ['$0 --config configs/zero3.json', 'train the shipped tiny model on the shipped sample conversations'],
  ['$0 --config ds_z3_config.json --model /models/TeleChat2-7B --data convs.jsonl --output-dir out', 'fine-tune a Hugging Face checkpoint on raw conversations'],
  ['$0 --config ds_z2_config.json --data ds/ --max-steps 100 --set optimizer.params.lr=2e-5', 'a dataset dir built by telechat-data (its max_seq_len is the run\'s), with an override'],
  ['$0 --config configs/zero2.json --data convs.jsonl --set data.val_size=0.05 --set training.save_best=true', 'hold out 5% of the conversations, evaluate at every save_steps, keep the best checkpoint'],
  ['$0 --config configs/zero2.json --model /models/TeleChat2-7B --output-dir out --set lora.r=16 --set lora.alpha=32 --set lora.target_modules=all-linear', 'LoRA (docs/lora.md): a frozen base, out/adapter a PEFT adapter, out/final the merged model'],
  ['$0 --config configs/zero3.json --init random --model-config my/config.json --dry-run', 'a random-init model from its config.json (my/ also holds its tokenizer, which builds the data): resolve and validate everything, print the plan, and exit'],
];

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-train')
    .usage('$0 --config FILE [options]\n\nTrains with a DeepSpeed config (TeleChat\'s ds_z*_config.json load unchanged) plus optional model/data/training sections; flags override the file.')
    .option('config', { type: 'string', describe: 'DeepSpeed-style JSON config (omitted: built-in defaults, which then need the batch size: --set train_micro_batch_size_per_gpu=N)' })
    .option('model', { type: 'string', describe: 'Hugging Face checkpoint dir (config.json, safetensors or pytorch_model.bin, tokenizer)' })
    .option('init', { type: 'string', choices: ['pretrained', 'random'], describe: 'initialise from the checkpoint, or randomly (normal(0, initializer_range), norms 1, biases 0); default: pretrained with --model, random for the built-in tiny model when no model is given; --model-config needs --init random' })
    .option('model-config', { type: 'string', describe: 'config.json for --init random (its folder must hold the tokenizer)' })
    .option('data', { type: 'string', describe: 'dataset dir from telechat-data, or .jsonl file(s) / a JSON array of conversations (LLaMA-Factory .json) / a mixing .json, built on the fly' })
    .option('eval-data', { type: 'string', describe: 'held-out set evaluated during training (training.eval_data): dataset dir, .jsonl, JSON-array .json or mixing .json, built like --data; default: the dataset dir\'s val/ if any' })
    .option('output-dir', { type: 'string', describe: 'where metrics.jsonl, train.log, checkpoints and final/ go' })
    .option('max-steps', { type: 'string', describe: 'optimizer steps in total, across resumes (an integer > 0; wins over --epochs)' })
    .option('epochs', { type: 'string', describe: 'passes over the data (a number > 0)' })
    .option('seed', { type: 'string', describe: 'seed of data order and random init (an integer from 0 to 2^53 - 1)' })
    .option('max-seq-len', { type: 'string', describe: 'training.max_seq_len (an integer): the length RoPE is set up for (default: the dataset\'s max_seq_len; at least it); raw --data is built to data.max_seq_len, else this' })
    .option('resume', { type: 'string', describe: 'auto (latest checkpoint in --output-dir) or a checkpoint dir' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an earlier run in --output-dir (it is set aside, and put back if the new run fails to start)' })
    .option('device', { type: 'string', choices: ['cpu', 'cuda', 'auto'], default: 'auto', describe: 'compute device: auto = the GPU of the local rank when the build has CUDA, one is visible and training is bf16/fp16, else the CPU' })
    .option('set', { type: 'string', array: true, default: [] as string[], describe: 'override a config key: --set dotted.key=JSON (repeatable)' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'resolve and validate config, model and data, print the plan, exit' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example(EXAMPLES)
    .epilog('Ctrl-C / SIGTERM: every rank finishes its step, a checkpoint is saved, the command that resumes the run is printed, exit 130 / 143; ' +
      'a second signal (after 1 s) stops at once. One run per --output-dir (a lock file names the holder). ' +
      'MFU uses the highest GEMM rate measured on this machine (at each start, cached), or TELECHAT_PEAK_TFLOPS (one rank\'s share). See docs/reliability.md.')
    .strict()
    .wrap(helpWidth())
    .help()
    .parse();
  const verbose = argv.verbose;
  try {
    if (argv.resume !== undefined && argv.overwrite) throw new Error('--resume and --overwrite contradict each other: continue the run, or replace it');
    const flags: ConfigFlags = {
      maxSteps: argv['max-steps'],
      epochs: argv.epochs,
      seed: argv.seed,
      outputDir: argv['output-dir'],
      maxSeqLen: argv['max-seq-len'],
      model: argv.model,
      modelConfig: argv['model-config'],
      init: argv.init,
      data: argv.data,
      evalData: argv['eval-data'],
    };
    // the device first: a CUDA run sets its GPU before the communicator (NCCL) is created
    const precision = loadConfig(argv.config ?? null, { sets: argv.set, flags, context: { worldSize: discoverRank().worldSize, hiddenSize: 1, runLengthLater: true } }).config.run.precision;
    const choice = resolveDevice(argv.device as DeviceFlag, precision);
    const backend = argv['dry-run'] ? null : backendFor(choice.device);
    const group = argv['dry-run'] ? null : initDistributed({ device: choice.device });
    const worldSize = group ? group.info.worldSize : discoverRank().worldSize;
    // a dry run under a launcher: every rank validates, rank 0 alone prints
    const isRank0 = (group ? group.info.rank : discoverRank().rank) === 0;
    let outputDir: string | null = null;
    let logPath: string | null = null; // training.log_file in it
    if (group) {
      watchLauncher((pid) => {
        const line = `telechat-train: rank ${group.info.rank}: the launcher (pid ${pid}) is gone; stopping` +
          (outputDir ? ` (the last complete checkpoint in ${outputDir} stays valid)` : '');
        process.stderr.write(line + '\n');
        if (logPath && existsSync(dirname(logPath))) appendFileSync(logPath, line + '\n');
        process.exit(1);
      });
    }
    const log = (line: string): void => {
      if (isRank0) process.stdout.write(line + '\n');
    };
    const barrier = (): void => group?.world.barrier();
    if (choice.note) log(`note: ${choice.note}`);
    const setup = await prepareRun({ configPath: argv.config ?? null, sets: argv.set, flags, worldSize, dryRun: argv['dry-run'], overwrite: argv.overwrite, resume: argv.resume ?? null, isRank0, barrier }, log);
    try {
      if (argv['dry-run']) {
        const cfg = setup.config;
        if (isRank0) process.stdout.write(resolvedConfigJson(cfg));
        for (const w of setup.warnings) log(`warning: ${w}`); // the lines the run would log first
        // the capacity plan telechat-plan prints, for this world size and device
        const rank = discoverRank();
        const plan = planOfConfig(cfg, setup.model.spec, setup.reader.manifest.max_seq_len,
          { device: choice.device, worldSize, localWorldSize: rank.localWorldSize, localRank: rank.localRank, modelName: setup.model.dir });
        for (const line of formatPlan(plan)) log(line);
        const zero = cfg.zero_optimization;
        for (const note of offloadNotes(zero, choice.device)) log(note);
        log(`data: ${setup.reader.numRows} rows (${setup.reader.manifest.tokens} tokens); model: ${setup.model.spec.layout}, ${setup.model.init} init from ${setup.model.dir}, hidden dropout ${setup.model.spec.hiddenDropout}`);
        if (setup.evalReader) {
          const every = evalEvery(cfg.training);
          log(`eval: ${setup.evalReader.numRows} rows (${setup.evalReader.manifest.loss_tokens} label tokens) from ${setup.evalReader.dir}, ${every > 0 ? `every ${every} steps and after the last` : 'only after the last step'}`);
        }
        log(`device: ${choice.device}`);
        log('dry run: configuration, model and data are valid');
        return;
      }
      outputDir = setup.config.training.output_dir;
      logPath = join(outputDir, setup.config.training.log_file);
      if (setup.finished !== null) {
        // a finished run resumed at its length: nothing is written (prepareRun refuses a shorter one)
        log(`done: nothing to train: ${setup.finished} is the run's last step, and ${join(outputDir, 'final')} holds its model`);
        group!.destroy();
        return;
      }
      const stop = new StopRequest((sig) => {
        if (isRank0) process.stderr.write(`\ntelechat-train: received ${sig}: finishing this step, then saving a checkpoint (send it again, after ${REPEAT_WINDOW_MS / 1000} s, to stop at once)\n`);
      });
      const summary = await train(setup, group!, { out: log, tty: process.stderr.isTTY && isRank0 ? process.stderr : null },
        { resume: argv.resume ?? null, backend: backend!, stop, resumeCommand: resumeCommand(process.argv, launcherArgvFromEnv()) });
      group!.destroy();
      stop.dispose();
      if (summary.stoppedBy !== null) process.exitCode = 128 + signalNumber(summary.stoppedBy);
    } finally {
      await setup.reader.close();
      await setup.evalReader?.close();
      setup.cleanup();
    }
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-train: ${verbose ? (err.stack ?? err.message) : err.message}\n`);
    // a signal before the first step ends the process as a signal after one does: 128 + its number
    process.exit(err instanceof StoppedBeforeStart ? 128 + signalNumber(err.signal) : 1);
  }
}

void main();
