// What the trainer's --data names, made into a dataset dir: a dir with manifest.json is used
// as it is (after checking it suits the run); raw .jsonl files or a mixing .json are built
// once with the model's tokenizer into a cache dir keyed by everything that shapes the rows,
// so a rerun (or a resume) finds the same build.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { sweepKilledBeside } from '../checkpoint/temporaries.js';
import { buildDataset, DataError } from './builder.js';
import type { LossOn } from './encode.js';
import type { FormatName } from './formats.js';
import { addedTokenRecords, readManifest, type Manifest } from './manifest.js';
import { parseInputs } from './sources.js';
import type { TemplateName } from './templates.js';
import { loadTokenizer } from './tokenizer.js';

export interface ResolveOptions {
  /** Dataset dir, FILE[,FILE...] (.jsonl) or MIX.json. */
  data: string;
  /** Tokenizer of the model being trained (a model or tokenizer dir). */
  tokenizerDir: string;
  modelDir?: string;
  /** Rows of raw input are built to this length; a dataset dir keeps its own (the trainer's config checks it). */
  maxSeqLen: number;
  /** Where raw inputs are built (e.g. OUTPUT_DIR/data). */
  cacheDir: string;
  template?: TemplateName;
  format?: FormatName | 'auto';
  lossOn?: LossOn;
  pack?: boolean;
  skipBad?: boolean;
  seed?: number;
  /** --val-size of a raw build (prebuilt dirs are checked against it by the trainer's config). */
  valSize?: number;
  /** Where valSize came from, for errors (default --val-size). */
  valSizeKey?: string;
  /** Rows never mix sources; the manifest records per-source row ranges (eval sets). */
  perSourceRows?: boolean;
  /** The option that named `data`, for errors (--data, --eval-data). */
  what?: string;
  /**
   * Only open an existing build, never build: the trainer's ranks other than 0 read the build rank 0
   * made (a missing one means rank 0 stopped and undid it; building it again here would leave files
   * behind in an output dir that failed to start). The text says who is reading.
   */
  openOnly?: string;
}

export interface ResolvedDataset {
  dir: string;
  manifest: Manifest;
  /** True when this call built it. */
  built: boolean;
}

export async function resolveDataset(o: ResolveOptions): Promise<ResolvedDataset> {
  const tok = loadTokenizer(o.tokenizerDir);
  const tokSha = tok.sha256;
  // The registered added tokens change how text with marker strings encodes: part of the identity.
  const added = addedTokenRecords(tok.addedTokens);
  tok.close();
  const asDir = resolve(o.data);
  if (existsSync(asDir) && statSync(asDir).isDirectory()) {
    const manifest = readManifest(asDir);
    if (manifest.tokenizer.sha256 !== tokSha) {
      throw new DataError(`${o.what ? o.what + ' ' : ''}${o.data}: built with another tokenizer (sha256 ${manifest.tokenizer.sha256.slice(0, 12)}…) than ${o.tokenizerDir}'s`);
    }
    // A manifest from before added tokens were recorded cannot tell: only texts holding a marker
    // string encode differently, so it is taken as it is (docs/data.md).
    const built = manifest.tokenizer.added_tokens;
    if (built !== undefined && JSON.stringify(built) !== JSON.stringify(added)) {
      const list = (a: readonly { content: string }[]) => (a.length ? a.map((t) => t.content).join(' ') : 'none');
      throw new DataError(
        `${o.what ? o.what + ' ' : ''}${o.data}: built with other registered added tokens (${list(built)}) than ${o.tokenizerDir}'s ` +
          `tokenizer_config.json registers (${list(added)}); text holding those strings encodes differently: rebuild it`,
      );
    }
    return { dir: asDir, manifest, built: false };
  }
  // Raw input: key the cache on the inputs (path, size, mtime, weight) and every build option.
  const sources = parseInputs(o.data);
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        sources: sources.map((s) => {
          const st = statSync(s.path);
          return [s.path, s.weight, st.size, st.mtimeMs];
        }),
        tokenizer: tokSha,
        model: o.modelDir ? resolve(o.modelDir) : null,
        template: o.template ?? null,
        maxSeqLen: o.maxSeqLen,
        format: o.format ?? 'auto',
        lossOn: o.lossOn ?? 'all',
        pack: o.pack ?? true,
        skipBad: o.skipBad ?? false,
        seed: o.seed ?? 42,
        // only when set, so the keys of earlier builds (and their runs' resumes) stay valid
        ...(o.valSize !== undefined ? { valSize: o.valSize } : {}),
        ...(o.perSourceRows ? { perSourceRows: true } : {}),
        ...(added.length ? { addedTokens: added } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const dir = join(resolve(o.cacheDir), `dataset-${key}`);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, manifest: readManifest(dir), built: false };
  if (o.openOnly !== undefined) throw new DataError(`${o.openOnly}: the build of ${o.data} is not in ${dir} (rank 0 stopped before making it, or undid it)`);
  // a build of this key that was killed left its temporary beside the dir (as telechat-data's do)
  sweepKilledBeside(dir, 'telechat-train', 'a build');
  const manifest = await buildDataset({
    input: o.data,
    inputFlag: o.what ?? '--data',
    tokenizerDir: o.tokenizerDir,
    modelDir: o.modelDir,
    output: dir,
    maxSeqLen: o.maxSeqLen,
    template: o.template,
    format: o.format,
    lossOn: o.lossOn,
    pack: o.pack,
    skipBad: o.skipBad,
    seed: o.seed,
    valSize: o.valSize,
    ...(o.valSizeKey !== undefined ? { valSizeKey: o.valSizeKey } : {}),
    perSourceRows: o.perSourceRows,
    overwrite: true,
  });
  return { dir, manifest, built: true };
}
