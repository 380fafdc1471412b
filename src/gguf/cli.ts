// telechat-export --format gguf: argument checks and the source choice (a checkpoint or
// output dir through --checkpoint, an HF dir through --model).
import { exportGguf, GGUF_DTYPE_ALIASES, GGUF_DTYPES, type GgufDtype, type GgufExportResult } from './export.js';
import { CheckpointCanonicalSource, HfCanonicalSource, type CanonicalSource } from './sources.js';

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
}

export function openCanonicalSource(args: { checkpoint?: string | undefined; model?: string | undefined }): CanonicalSource {
  if ((args.checkpoint === undefined) === (args.model === undefined)) throw new Error('give exactly one of --checkpoint DIR (a checkpoint or an output dir) and --model HFDIR');
  return args.checkpoint !== undefined ? new CheckpointCanonicalSource(args.checkpoint) : new HfCanonicalSource(args.model!);
}

export function exportGgufCli(args: GgufCliArgs): GgufExportResult {
  const dtype = parseGgufDtype(args.dtype ?? 'fp16');
  const source = openCanonicalSource(args);
  try {
    return exportGguf(source, args.output, dtype, { overwrite: args.overwrite });
  } finally {
    source.close();
  }
}
