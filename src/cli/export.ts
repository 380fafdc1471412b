#!/usr/bin/env node
// telechat-export: consolidate a training checkpoint into a Hugging Face directory (merging a
// LoRA checkpoint's adapters into its base), convert an HF TeleChat dir into one (--model), or
// write a checkpoint or HF TeleChat dir as one GGUF file for llama.cpp (--format gguf).
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { helpWidth, usageErrorLine, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { checkpointDir, consolidateCheckpointSteps } from '../checkpoint/consolidate.js';
import { convertHfDirSteps } from '../checkpoint/hf_convert.js';
import { runInterruptible, type Steps } from '../checkpoint/interrupt.js';
import { checkpointAdapter, mergeAdapterSteps } from '../checkpoint/lora_merge.js';
import { type ExportDtype, readsFromHfDir } from '../checkpoint/hf_export.js';
import { outputOverlapProblem, type ReadPath } from '../checkpoint/output_path.js';
import { readAdapterConfig } from '../checkpoint/peft.js';
import { sweepKilledBeside } from '../checkpoint/temporaries.js';
import { exportGgufCliSteps, GGUF_DTYPE_CHOICES, parseGgufDtype } from '../gguf/cli.js';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-export')
    .usage('$0 (--checkpoint DIR | --model HFDIR) --output PATH [--format hf|gguf] [--dtype fp32|fp16|bf16|q8_0|q4_0]\n\nWrites the fp32 master weights of a training checkpoint (saved on any number of ranks and any ZeRO stage) as a Hugging Face directory with the base model\'s tensor names, config, tokenizer and remote code. One block is in memory at a time. A LoRA checkpoint (adapter/ instead of hf/), or a PEFT adapter dir, is merged into its base: W + lora_alpha / r * B A, the base being --model or the adapter\'s base_model_name_or_path; beside a full (non-LoRA) checkpoint --model is refused.\n\n--model alone converts any HF TeleChat dir (safetensors or pytorch_model.bin, sharded or not) into the same kind of HF directory: same tensor names and shapes, at --dtype (default: the source\'s; a kept dtype is copied bit for bit), with its config, generation config, tokenizer and remote code, one tensor in memory at a time.\n\n--format gguf writes one .gguf file that llama.cpp (llama-server, Ollama, LM Studio, node-llama-cpp, telechat-chat) loads as its llama architecture, from a checkpoint, an output dir (a LoRA one merged into its base as it is converted) or any HF TeleChat dir (--model); one tensor is in memory at a time (two while a tied model\'s stored LM head is compared with its embeddings). See docs/export.md.')
    .option('checkpoint', { type: 'string', describe: 'a checkpoint-NNNNNN dir, or an output dir (its latest checkpoint)' })
    .option('model', { type: 'string', describe: 'an HF TeleChat dir: alone, the model to convert (to an HF dir, or with --format gguf a GGUF); with --checkpoint, the base a LoRA checkpoint is merged into (default: the adapter\'s base_model_name_or_path)' })
    .option('output', { type: 'string', demandOption: true, describe: 'the HF directory (or, for gguf, the .gguf file) to write (must not exist unless --overwrite)' })
    .option('format', { type: 'string', choices: ['hf', 'gguf'], default: 'hf', describe: 'hf: a Hugging Face directory; gguf: one llama.cpp file' })
    .option('dtype', { type: 'string', choices: GGUF_DTYPE_CHOICES, describe: 'tensor dtype (hf default: the base checkpoint\'s, or the --model dir\'s; gguf default: fp16). q8_0 and q4_0 are ggml block quantizations, gguf only; f32 and f16 are llama.cpp\'s spellings of fp32 and fp16' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example([
      ['$0 --checkpoint output/zero3 --output exported', 'the latest checkpoint of a run, in the base dtype'],
      ['$0 --checkpoint output/zero3/checkpoint-000040 --output exported-bf16 --dtype bf16', 'one checkpoint, as bf16'],
      ['$0 --checkpoint output/zero3 --format gguf --output model.gguf', 'the latest checkpoint as a GGUF for llama.cpp / Ollama (fp16)'],
      ['$0 --model TeleChat2-7B --format gguf --dtype q8_0 --output telechat2-7b-q8_0.gguf', 'an HF TeleChat dir, 8-bit'],
      ['$0 --checkpoint output/lora --model models/TeleChat2-7B --output merged', 'a LoRA run\'s latest adapters merged into the base'],
      ['$0 --model TeleChat2-7B --dtype bf16 --output telechat2-7b-bf16', 'an HF TeleChat dir (.bin or safetensors) as a bf16 safetensors HF dir'],
    ])
    .epilog('Ctrl-C / SIGTERM / SIGHUP (a closed terminal or dropped ssh session): the partial output (a hidden temporary beside --output) is removed and the command exits 130 / 143 / 129; an existing output is left as it was. An export killed outright (SIGKILL, the OOM killer) leaves that temporary: the next export to the same output deletes it.')
    .strict()
    .wrap(helpWidth())
    .help()
    .parse();
  try {
    checkNotOverInputs(argv.output, argv.checkpoint, argv.model);
    if (argv.format === 'gguf') checkGgufOutput(argv.output);
    else if (/\.gguf\/*$/i.test(argv.output)) {
      // a forgotten --format gguf would give a directory that llama.cpp cannot open
      throw new Error(`${argv.output}: --output ends in .gguf, but --format hf (the default) writes an HF directory: add --format gguf for one llama.cpp file, or name the directory otherwise`);
    }
    // an export killed outright (SIGKILL, the OOM killer) left its hidden temporary, as large as
    // the output: this host's dead ones are deleted
    sweepKilledBeside(argv.output, 'telechat-export', 'an export');
    if (argv.format === 'gguf') {
      const res = await interruptible(exportGgufCliSteps({ checkpoint: argv.checkpoint, model: argv.model, output: argv.output, dtype: argv.dtype, overwrite: argv.overwrite }));
      process.stdout.write(`wrote ${argv.output}: ${res.tensors} tensors, ${(res.bytes / 1e6).toFixed(1)} MB\n`);
      if (res.f16Fallbacks > 0) {
        process.stdout.write(`note: ${res.f16Fallbacks} matri${res.f16Fallbacks === 1 ? 'x is' : 'ces are'} written f16, not ${argv.dtype}: their rows are not a multiple of 32 long (ggml's block size)\n`);
      }
      return;
    }
    const d = argv.dtype === undefined ? null : parseGgufDtype(argv.dtype);
    if (d === 'q8_0' || d === 'q4_0') throw new Error(`--dtype ${argv.dtype} is a GGUF quantization: use it with --format gguf (HF exports are fp32, fp16 or bf16)`);
    const dtype: ExportDtype | null = d;
    if (argv.checkpoint === undefined) {
      if (argv.model === undefined) {
        process.stderr.write(usageErrorLine('telechat-export', 'give --checkpoint DIR (a checkpoint or an output dir) or --model HFDIR (an HF TeleChat dir)') + '\n');
        process.exit(1);
      }
      const files = await interruptible(convertHfDirSteps(argv.model, argv.output, dtype, argv.overwrite));
      process.stdout.write(`wrote ${argv.output}: ${files.join(', ')}\n`);
      return;
    }
    const adapter = checkpointAdapter(argv.checkpoint, argv.model);
    const files = await interruptible(adapter
      ? mergeAdapterSteps(adapter, argv.model ?? null, argv.output, dtype, (m) => process.stderr.write(`telechat-export: warning: ${m}\n`), argv.overwrite)
      : consolidateCheckpointSteps(argv.checkpoint, argv.output, dtype, argv.overwrite));
    process.stdout.write(`wrote ${argv.output}: ${files.join(', ')}\n`);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-export: ${argv.verbose ? (err.stack ?? err.message) : err.message}\n`);
    process.exit(1);
  }
}

/** Runs an export so that Ctrl-C, SIGTERM or SIGHUP removes its temporary and exits 130 / 143 / 129. */
function interruptible<T>(steps: Steps<T>): Promise<T> {
  return runInterruptible(steps, (signal) => process.stderr.write(`telechat-export: stopped by ${signal}; the partial output is removed, nothing was written\n`));
}

/**
 * An output that is, contains or lies inside anything the export reads is refused before anything
 * is written (--overwrite would delete the source it is reading, or a file among the base's
 * weights would be replaced): the --model dir, or the --checkpoint path, the checkpoint its
 * `latest` names, a LoRA checkpoint's adapter dir and its base. Resolved as the export resolves
 * them, so a bad --checkpoint fails here with the export's own error.
 */
function checkNotOverInputs(output: string, checkpoint: string | undefined, model: string | undefined): void {
  const reads: ReadPath[] = [];
  if (checkpoint === undefined) {
    if (model !== undefined) reads.push({ path: model, what: 'the model dir', reads: readsFromHfDir });
  } else {
    // an output dir is read for its `latest` and the checkpoint that names (pushed whole below);
    // a checkpoint dir given itself is read whole
    const outputDir = existsSync(join(checkpoint, 'latest'));
    reads.push({ path: checkpoint, what: 'the --checkpoint dir', ...(outputDir ? { reads: (n: string) => n === 'latest' } : {}) });
    const adapter = checkpointAdapter(checkpoint, model);
    if (adapter === null || outputDir) reads.push({ path: checkpointDir(checkpoint), what: 'the checkpoint' });
    if (adapter !== null) {
      reads.push({ path: adapter, what: 'the adapter dir' });
      const base = model ?? readAdapterConfig(adapter).base_model_name_or_path;
      if (base !== null) reads.push({ path: base, what: 'the base model dir', reads: readsFromHfDir });
    }
  }
  const problem = outputOverlapProblem(output, reads);
  if (problem !== null) throw new Error(`${output}: ${problem}: write the export elsewhere`);
}

/**
 * --format gguf writes one file: a directory at that path, or a parent that is missing or a file,
 * is refused up front in one sentence (never replaced, even with --overwrite). An existing file
 * is the writer's to refuse or, with --overwrite, replace.
 */
function checkGgufOutput(output: string): void {
  const path = resolve(output);
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new Error(`${output}: --output is a directory; --format gguf writes one file: give its path (e.g. ${output.replace(/\/+$/, '')}/model.gguf)`);
  }
  const parent = dirname(path);
  if (!existsSync(parent)) throw new Error(`${output}: cannot write the .gguf file: directory ${parent} does not exist`);
  if (!statSync(parent).isDirectory()) throw new Error(`${output}: cannot write the .gguf file: ${parent} is a file, not a directory`);
}

void main();
