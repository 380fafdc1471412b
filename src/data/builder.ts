// The multi-turn dataset builder: jsonl sources -> conversations -> template segments ->
// ids/labels -> length fitting -> best-fit packing -> Arrow shards + manifest. Streaming:
// memory is bounded by one batch of lines, the packer's buffer and one shard. The output is
// written into a temporary sibling dir and renamed at the end, so a failed build leaves none.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import {
  assembleConversations,
  checkTemplate,
  fitToLength,
  layoutConversations,
  type EncodedConversation,
  type LossOn,
} from './encode.js';
import { BadLine, parseLine, type Conversation, type FormatName } from './formats.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest, type SourceStats } from './manifest.js';
import { BestFitPacker, type PackedRow } from './packer.js';
import { ShardWriter } from './shards.js';
import { parseInputs, weightedBytes, weightedLines, type Source } from './sources.js';
import { getTemplate, templateFromConfig, type ChatTemplate, type TemplateName } from './templates.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

export interface BuildProgress {
  bytes: number;
  totalBytes: number;
  tokens: number;
  conversations: number;
}

export interface BuildOptions {
  /** FILE[,FILE...] or a mixing MIX.json. */
  input: string;
  /** Model dir (tokenizer files + config.json) or tokenizer dir. */
  tokenizerDir: string;
  /** Model dir whose config.json picks the template, when it differs from tokenizerDir. */
  modelDir?: string;
  output: string;
  maxSeqLen: number;
  template?: TemplateName;
  format?: FormatName | 'auto';
  lossOn?: LossOn;
  pack?: boolean;
  skipBad?: boolean;
  seed?: number;
  overwrite?: boolean;
  rowsPerBatch?: number;
  tokensPerShard?: number;
  onProgress?: (p: BuildProgress) => void;
}

/** An input error: the CLI prints the message alone and exits non-zero. */
export class DataError extends Error {}

const LINES_PER_BATCH = 512;

function firstChars(bytes: Uint8Array, n = 80): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 4 * n));
  const chars = Array.from(text);
  return chars.slice(0, n).join('') + (chars.length > n ? '…' : '');
}

/** --template, else the model/tokenizer dir's config.json, else an error asking for the flag. */
export function chooseTemplate(dir: string, flag: TemplateName | undefined): TemplateName {
  if (flag) return flag;
  const configPath = join(dir, 'config.json');
  if (existsSync(configPath)) {
    const fromConfig = templateFromConfig(JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>);
    if (fromConfig) return fromConfig;
  }
  throw new DataError(
    `${dir}: cannot tell the chat template (no TeleChat config.json there); pass --template telechat|telechat2|telechat-52b`,
  );
}

function emptyStats(src: Source): SourceStats {
  return {
    path: src.path, weight: src.weight, lines: 0, conversations: 0, kept: 0, truncated: 0, dropped: 0,
    skipped: {}, tokens: 0, loss_tokens: 0,
  };
}

function countLoss(labels: Int32Array): number {
  let n = 0;
  for (const l of labels) if (l !== -100) n++;
  return n;
}

export async function buildDataset(opts: BuildOptions): Promise<Manifest> {
  if (!Number.isInteger(opts.maxSeqLen) || opts.maxSeqLen < 8) {
    throw new DataError(`--max-seq-len must be an integer >= 8, got ${opts.maxSeqLen}`);
  }
  const output = resolve(opts.output);
  if (existsSync(output) && !opts.overwrite && readdirSync(output).length > 0) {
    throw new DataError(`${opts.output}: output directory exists and is not empty (pass --overwrite to replace it)`);
  }
  const sources = parseInputs(opts.input);
  const templateName = chooseTemplate(opts.modelDir ?? opts.tokenizerDir, opts.template);
  const template = getTemplate(templateName);
  const format = opts.format ?? 'auto';
  const lossOn = opts.lossOn ?? 'all';
  const pack = opts.pack ?? true;
  const seed = opts.seed ?? 42;
  const tok = loadTokenizer(opts.tokenizerDir);
  const tmp = join(dirname(output), `.${basename(output)}.tmp-${process.pid}-${Date.now()}`);
  try {
    checkTemplate(tok, template);
    mkdirSync(tmp, { recursive: true });
    const manifest = await buildInto(tmp, sources, tok, template, format, lossOn, pack, seed, opts);
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    if (existsSync(output)) rmSync(output, { recursive: true, force: true });
    mkdirSync(dirname(output), { recursive: true });
    renameSync(tmp, output);
    return manifest;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    tok.close();
  }
}

async function buildInto(
  dir: string,
  sources: Source[],
  tok: Tokenizer,
  template: ChatTemplate,
  format: FormatName | 'auto',
  lossOn: LossOn,
  pack: boolean,
  seed: number,
  opts: BuildOptions,
): Promise<Manifest> {
  const maxSeqLen = opts.maxSeqLen;
  // Record batches of about 64K tokens: the reader fetches a whole batch to serve one row, so
  // random access (shuffled training order) reads at most ~0.5 MB per row.
  const rowsPerBatch = opts.rowsPerBatch ?? Math.min(1024, Math.max(1, Math.round(65536 / maxSeqLen)));
  const writer = new ShardWriter(dir, rowsPerBatch, opts.tokensPerShard ?? 1 << 21);
  let rows = 0;
  let tokens = 0;
  let lossTokens = 0;
  let documents = 0;
  const emitRow = (row: PackedRow): void => {
    writer.writeDocs(row.docs);
    rows++;
  };
  const packer = pack ? new BestFitPacker(maxSeqLen, emitRow) : undefined;
  const stats: Record<string, SourceStats> = {};
  const totalBytes = sources.reduce((s, src) => s + weightedBytes(src), 0);
  let bytesBefore = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const needsSystemId = template.name !== 'telechat-52b';

  // Encodes still running on a worker thread: an error must wait for them before the
  // tokenizer is closed under them.
  const inflight = new Set<Promise<unknown>>();
  try {
    await readSources();
  } catch (e) {
    await Promise.allSettled([...inflight]);
    throw e;
  }

  async function readSources(): Promise<void> {
    for (const [index, src] of sources.entries()) {
      if (stats[src.name]) throw new DataError(`--input: ${src.name} is given twice`);
      const st = (stats[src.name] = emptyStats(src));
      let batch: Conversation[] = [];
      // Pipeline: batch k is encoded on a worker thread while this thread parses batch k+1;
      // batches are finished strictly in order (at most two in flight).
      let previous: Promise<void> = Promise.resolve();
      const finish = (encoded: EncodedConversation[]): void => {
        for (const enc of encoded) {
          const fit = fitToLength(enc, maxSeqLen);
          if (fit.status === 'dropped') {
            st.dropped++;
            continue;
          }
          st[fit.status]++;
          const n = fit.doc.ids.length;
          const loss = countLoss(fit.doc.labels);
          st.tokens += n;
          st.loss_tokens += loss;
          tokens += n;
          lossTokens += loss;
          documents++;
          if (packer) packer.add(fit.doc);
          else emitRow({ docs: [fit.doc], tokens: n });
        }
        opts.onProgress?.({ bytes: bytesNow, totalBytes, tokens, conversations: documents });
      };
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const layout = layoutConversations(template, batch, lossOn);
        batch = [];
        const encoding = tok.encodeFlatAsync(layout.texts);
        inflight.add(encoding);
        // Handled when awaited below; this also avoids an unhandled-rejection report.
        encoding.catch(() => undefined).finally(() => inflight.delete(encoding));
        await previous;
        previous = encoding.then((ids) => finish(assembleConversations(tok, template, layout, ids)));
        previous.catch(() => undefined);
      };
      let bytesNow = bytesBefore;
      for await (const line of weightedLines(src, index, seed, (b) => (bytesNow = bytesBefore + b))) {
        if (line.firstRead) st.lines++;
        let conv: Conversation;
        try {
          conv = parseLine(line.bytes, format, decoder);
          if (conv.system !== undefined && needsSystemId && tok.special.system === undefined) {
            throw new DataError(
              `${src.name}:${line.lineNo}: the conversation has a system prompt but the tokenizer has no <_system> id`,
            );
          }
        } catch (e) {
          if (!(e instanceof BadLine)) throw e;
          if (!opts.skipBad) throw new DataError(`${src.name}:${line.lineNo}: ${e.message}: ${firstChars(line.bytes)}`);
          if (line.firstRead) st.skipped[e.reason] = (st.skipped[e.reason] ?? 0) + 1;
          continue;
        }
        if (!line.taken) continue;
        st.conversations++;
        batch.push(conv);
        if (batch.length >= LINES_PER_BATCH) await flush();
      }
      await flush();
      await previous;
      bytesBefore += weightedBytes(src);
    }
  }
  packer?.finish();
  const shards = writer.finish();
  if (rows === 0) throw new DataError('no conversation survived: every input line was skipped or too long for --max-seq-len');
  return {
    format: MANIFEST_FORMAT,
    format_version: MANIFEST_VERSION,
    created_by: 'telechat-data 0.1.0',
    tokenizer: {
      kind: tok.kind,
      dir: tok.dir,
      file: basename(tok.file),
      sha256: tok.sha256,
      vocab_size: tok.vocabSize,
      special_ids: tok.special,
      special_sources: tok.specialSources,
    },
    template: template.name,
    input_format: format,
    loss_on: lossOn,
    max_seq_len: maxSeqLen,
    packed: pack,
    seed,
    rows,
    documents,
    tokens,
    loss_tokens: lossTokens,
    packing_efficiency: tokens / (rows * maxSeqLen),
    rows_per_batch: writer.rowsPerBatch,
    shards,
    sources: stats,
  };
}
