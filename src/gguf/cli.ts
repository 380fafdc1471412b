// telechat-export --format gguf: argument checks and the source choice (a checkpoint or
// output dir through --checkpoint, a LoRA one with its base as --model; an HF dir through --model).
import { drain, type Steps } from '../checkpoint/interrupt.js';
import { exportGgufSteps, GGUF_DTYPE_ALIASES, GGUF_DTYPES, type GgufDtype, type GgufExportResult } from './export.js';
import { checkpointAdapter } from '../checkpoint/lora_merge.js';
import { CheckpointCanonicalSource, HfCanonicalSource, LoraMergedSource, type CanonicalSource } from './sources.js';

/** Every --dtype spelling telechat-export accepts (the HF format takes the first three). */
export const GGUF_DTYPE_CHOICES = [...GGUF_DTYPES, ...Object.keys(GGUF_DTYPE_ALIASES)];

export function parseGgufDtype(s: string): GgufDtype {
  const d = GGUF_DTYPE_ALIASES[s] ?? s;
  if (!(GGUF_DTYPES as readonly string[]).includes(d)) throw new Error(`unknown GGUF dtype "${s}"; choose one of ${GGUF_DTYPE_CHOICES.join(', ')}`);
  return d as GgufDtype;
}

export interface GgufCliArgs {
  checkpoint?: string | undefined;
  model?: string | undefined;
  output: string;
  dtype?: string | undefined;
  overwrite: boolean;
  /** Where warnings go (default: stderr, as telechat-export's). */
  warn?: (message: string) => void;
}

/**
 * --checkpoint: a checkpoint or output dir (a LoRA one merged into its base: --model, else the
 * adapter's base_model_name_or_path); --model alone: an HF dir.
 */
export function openCanonicalSource(args: { checkpoint?: string | undefined; model?: string | undefined; warn: (message: string) => void }): CanonicalSource {
  if (args.checkpoint === undefined) {
    if (args.model === undefined) throw new Error('give --checkpoint DIR (a checkpoint or an output dir) or --model HFDIR');
    return new HfCanonicalSource(args.model);
  }
  const adapter = checkpointAdapter(args.checkpoint, args.model);
  return adapter !== null ? new LoraMergedSource(adapter, args.model ?? null, args.warn) : new CheckpointCanonicalSource(args.checkpoint);
}

export function exportGgufCli(args: GgufCliArgs): GgufExportResult {
  return drain(exportGgufCliSteps(args));
}

/** exportGgufCli as steps, one tensor each (checkpoint/interrupt.ts). */
export function* exportGgufCliSteps(args: GgufCliArgs): Steps<GgufExportResult> {
  const dtype = parseGgufDtype(args.dtype ?? 'fp16');
  // a merged adapter's config fields that do not apply here (peft.ts adapterConfigWarnings), a
  // tokenizer normalization llama.cpp skips (vocab.ts)
  const warn = args.warn ?? ((m: string) => void process.stderr.write(`telechat-export: warning: ${m}\n`));
  const source = openCanonicalSource({ ...args, warn });
  try {
    return yield* exportGgufSteps(source, args.output, dtype, { overwrite: args.overwrite, warn });
  } finally {
    source.close();
  }
}
