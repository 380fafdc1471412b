#!/usr/bin/env node
// telechat-export: consolidate a training checkpoint into a Hugging Face directory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { helpWidth, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { checkpointDir, consolidateCheckpoint } from '../checkpoint/consolidate.js';
import { adapterDirOf, mergeAdapter } from '../checkpoint/lora_merge.js';
import type { ExportDtype } from '../checkpoint/hf_export.js';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-export')
    .usage('$0 --checkpoint DIR --output DIR [--dtype fp32|fp16|bf16] [--model BASE]\n\nWrites the fp32 master weights of a training checkpoint (saved on any number of ranks and any ZeRO stage) as a Hugging Face directory with the base model\'s tensor names, config, tokenizer and remote code. One block is in memory at a time. A LoRA checkpoint (adapter/ instead of hf/), or a PEFT adapter dir, is merged into its base: W + lora_alpha / r * B A, the base being --model or the adapter\'s base_model_name_or_path.')
    .option('checkpoint', { type: 'string', demandOption: true, describe: 'a checkpoint-NNNNNN dir, or an output dir (its latest checkpoint)' })
    .option('output', { type: 'string', demandOption: true, describe: 'the HF directory to write (must not exist unless --overwrite)' })
    .option('dtype', { type: 'string', choices: ['fp32', 'fp16', 'bf16'], describe: 'tensor dtype (default: the base checkpoint\'s, as in the checkpoint\'s hf/)' })
    .option('model', { type: 'string', describe: 'LoRA: the base model dir (default: the adapter\'s base_model_name_or_path)' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output directory' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example([
      ['$0 --checkpoint output/zero3 --output exported', 'the latest checkpoint of a run, in the base dtype'],
      ['$0 --checkpoint output/zero3/checkpoint-000040 --output exported-bf16 --dtype bf16', 'one checkpoint, as bf16'],
      ['$0 --checkpoint output/lora --model models/TeleChat2-7B --output merged', 'a LoRA run\'s latest adapters merged into the base'],
    ])
    .strict()
    .wrap(helpWidth())
    .help()
    .parse();
  try {
    const dtype = (argv.dtype as ExportDtype | undefined) ?? null;
    const adapter = adapterDirOf(argv.checkpoint) ?? (existsSync(join(argv.checkpoint, 'latest')) ? adapterDirOf(checkpointDir(argv.checkpoint)) : null);
    if (!adapter && argv.model !== undefined) throw new Error(`--model is for LoRA checkpoints; ${argv.checkpoint} holds no adapter/`);
    const files = adapter
      ? mergeAdapter(adapter, argv.model ?? null, argv.output, dtype, argv.overwrite)
      : consolidateCheckpoint(argv.checkpoint, argv.output, dtype, argv.overwrite);
    process.stdout.write(`wrote ${argv.output}: ${files.join(', ')}\n`);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-export: ${argv.verbose ? (err.stack ?? err.message) : err.message}\n`);
    process.exit(1);
  }
}

void main();
