// The multi-turn dataset builder: jsonl sources -> conversations -> template segments ->
// ids/labels -> length fitting -> best-fit packing -> Arrow shards + manifest. Streaming:
// memory is bounded by one batch of lines, the packer's buffer and one shard (plus the N held-out
// documents of a count `--val-size N`, and the copies of the last one's conversation). The output is
// written into a temporary sibling dir and renamed at the end, so a failed build leaves none.
import { createHash } from 'node:crypto';
import { outputDirProblem, outputOverlapProblem, type ReadPath } from '../checkpoint/output_path.js';
import { temporaryBeside } from '../checkpoint/temporaries.js';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
import type { RawLine } from './jsonl.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, addedTokenRecords, type Manifest, type SourceStats } from './manifest.js';
import { BestFitPacker, type PackedRow } from './packer.js';
import { ShardWriter, type ShardInfo } from './shards.js';
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
  /** The option that named `input`, for errors (default --input; the trainer's --data, --eval-data). */
  inputFlag?: string;
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
  /** Hold out a fraction (< 1) or a count of conversations, seeded, into `val/` (before packing). */
  valSize?: number;
  /** Where valSize came from, for errors: --val-size (the default) or the trainer's data.val_size. */
  valSizeKey?: string;
  /** Rows never mix sources and the manifest records each source's row ranges (eval sets). */
  perSourceRows?: boolean;
  overwrite?: boolean;
  /**
   * Where the dataset is written before it is renamed to `output` (default: the hidden sibling
   * `.NAME.tmp-HOST-PID`, which a later build sweeps after a kill). telechat-data passes the same
   * path, to remove it on Ctrl-C.
   */
  temporary?: string;
  rowsPerBatch?: number;
  tokensPerShard?: number;
  onProgress?: (p: BuildProgress) => void;
}

/** An input error: the CLI prints the message alone and exits non-zero. */
export class DataError extends Error {}

const LINES_PER_BATCH = 512;

/** The first n characters of a record, runs of whitespace as one space: a JSON array's element spans lines, an error is one. */
function firstChars(bytes: Uint8Array, n = 80): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 4 * n)).replace(/\s+/g, ' ');
  const chars = Array.from(text);
  return chars.slice(0, n).join('') + (chars.length > n || bytes.length > 4 * n ? '…' : '');
}

/** A record's place for FILE:LINE messages: its line, and in a JSON array its index too. */
function where(line: RawLine): string {
  return line.index === undefined ? String(line.lineNo) : `${line.lineNo} (array index ${line.index})`;
}

/** A model or tokenizer dir that must exist (before anything looks for files in it). */
function checkDir(dir: string, what: string): void {
  if (!existsSync(dir)) throw new DataError(`${dir}: ${what} directory does not exist`);
  if (!statSync(dir).isDirectory()) throw new DataError(`${dir}: not a directory (expected a ${what} directory)`);
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
    path: src.path, ...(src.fromCwd ? { relative_to: 'cwd' as const } : {}), weight: src.weight, lines: 0, conversations: 0, kept: 0, truncated: 0, dropped: 0,
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
  // absent, empty, or (with --overwrite) a dir; a file there or where a parent should be is refused
  const outputProblem = outputDirProblem(output, opts.overwrite ?? false, true);
  if (outputProblem !== null) throw new DataError(`${opts.output}: ${outputProblem}`);
  if (opts.modelDir !== undefined) checkDir(opts.modelDir, 'model');
  if (opts.tokenizerDir !== opts.modelDir) checkDir(opts.tokenizerDir, 'tokenizer');
  const sources = parseInputs(opts.input);
  // --overwrite replaces the output whole: never over (or around) what the build reads. A file
  // inside a tokenizer or model dir under a new name is harmless (nothing there is read).
  const reads: ReadPath[] = [
    ...opts.input.split(',').map((s) => s.trim()).filter((s) => s !== '').map((path) => ({ path, what: 'input' })),
    ...sources.map((s) => ({ path: s.path, what: 'input' })),
    ...[opts.tokenizerDir, ...(opts.modelDir !== undefined ? [opts.modelDir] : [])].map((path) => ({ path, what: 'the tokenizer dir', reads: () => false })),
  ];
  const overlap = outputOverlapProblem(output, reads, 'the build');
  if (overlap !== null) throw new DataError(`${opts.output}: ${overlap}: write the dataset elsewhere`);
  const templateName = chooseTemplate(opts.modelDir ?? opts.tokenizerDir, opts.template);
  const template = getTemplate(templateName);
  const format = opts.format ?? 'auto';
  const lossOn = opts.lossOn ?? 'all';
  const pack = opts.pack ?? true;
  const seed = opts.seed ?? 42;
  const tok = loadTokenizer(opts.tokenizerDir);
  const tmp = opts.temporary ?? temporaryBeside(output);
  try {
    checkTemplate(tok, template);
    try {
      mkdirSync(tmp, { recursive: true });
    } catch (e) {
      throw new DataError(`${opts.output}: cannot create the output directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
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

/** Where built documents go: one packer (or one row per document) feeding one shard writer. */
class Sink {
  rows = 0;
  tokens = 0;
  lossTokens = 0;
  documents = 0;
  readonly stats: Record<string, SourceStats> = {};
  /** Per-source rows [start, end) when rows never mix sources. */
  readonly ranges: Record<string, Array<[number, number]>> = {};
  readonly writer: ShardWriter;
  private packer: BestFitPacker | undefined;
  private current: string | null = null;

  constructor(
    readonly dir: string,
    private readonly maxSeqLen: number,
    rowsPerBatch: number,
    tokensPerShard: number,
    pack: boolean,
    /** Rows never mix sources; each source's row ranges are recorded (eval sets: per-source loss). */
    private readonly perSource: boolean,
  ) {
    this.writer = new ShardWriter(dir, rowsPerBatch, tokensPerShard);
    this.packer = pack ? this.newPacker() : undefined;
  }

  private newPacker(): BestFitPacker {
    return new BestFitPacker(this.maxSeqLen, (row) => this.emit(row));
  }

  private emit(row: PackedRow): void {
    this.writer.writeDocs(row.docs);
    this.rows++;
  }

  statsOf(src: Source): SourceStats {
    return (this.stats[src.name] ??= emptyStats(src));
  }

  add(doc: PackedRow['docs'][number], src: Source, loss: number): void {
    if (this.perSource && src.name !== this.current) this.closeRange();
    if (this.perSource && this.current === null) {
      this.current = src.name;
      (this.ranges[src.name] ??= []).push([this.rows, this.rows]);
    }
    this.tokens += doc.ids.length;
    this.lossTokens += loss;
    this.documents++;
    if (this.packer) this.packer.add(doc);
    else this.emit({ docs: [doc], tokens: doc.ids.length });
  }

  private closeRange(): void {
    if (this.current === null) return;
    if (this.packer) {
      this.packer.finish();
      this.packer = this.newPacker();
    }
    const r = this.ranges[this.current]!;
    r[r.length - 1]![1] = this.rows;
    this.current = null;
  }

  finish(): ShardInfo[] {
    this.closeRange();
    this.packer?.finish();
    return this.writer.finish();
  }
}

/** How many conversations --val-size (or `key`) holds out: a fraction (< 1) or a count (>= 1). */
export function checkValSize(v: number | undefined, key = '--val-size'): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= 0 || (v >= 1 && !Number.isInteger(v))) {
    throw new DataError(`${key} must be a fraction in (0, 1) or a whole number of conversations >= 1, got ${v}`);
  }
}

/**
 * The held-out split is keyed by a seeded hash of each conversation's line: a fraction F holds
 * out every conversation whose key is below F; a count N the N smallest keys, rounded up to whole
 * groups of equal keys (SmallestKeys). Either way the
 * split depends only on the seed and the text, never on order or world size, and identical
 * lines (a weight's repeats, duplicates) share a key, so they land on the same side.
 */
function splitKey(seed: number, doc: { ids: Int32Array; labels: Int32Array }): number {
  const h = createHash('sha256').update(`telechat-val:${seed}:`);
  h.update(new Uint8Array(doc.ids.buffer, doc.ids.byteOffset, doc.ids.byteLength));
  h.update(new Uint8Array(doc.labels.buffer, doc.labels.byteOffset, doc.labels.byteLength));
  const d = h.digest();
  return d.readUInt32BE(0) / 2 ** 32 + d.readUInt32BE(4) / 2 ** 64;
}

/** A built document on its way to a sink. */
interface Doc {
  doc: PackedRow['docs'][number];
  src: Source;
  truncated: boolean;
  loss: number;
}

/**
 * What a count --val-size N holds out: the smallest keys, whole groups of equal keys (identical
 * conversations), until at least N. A group that straddles the N-th place is held out whole,
 * so the held-out count is N rounded UP to whole groups (N + at most that group's size - 1).
 * A max-heap of the kept items: the largest-key group is pushed out to training as soon as the
 * rest still makes N.
 */
class SmallestKeys {
  private heap: Array<{ key: number; order: number; item: Doc }> = [];
  /** Items per key in the heap. */
  private counts = new Map<number, number>();
  private order = 0;
  constructor(private readonly n: number) {}

  /** Offers an item; returns the items pushed out (whole groups of the largest key), if any. */
  offer(key: number, item: Doc): Doc[] {
    this.heap.push({ key, order: this.order++, item });
    this.up(this.heap.length - 1);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const out: Doc[] = [];
    while (this.heap.length > this.n) {
      const top = this.heap[0]!.key;
      const group = this.counts.get(top)!;
      if (this.heap.length - group < this.n) break;
      for (let i = 0; i < group; i++) out.push(this.pop().item);
      this.counts.delete(top);
    }
    return out;
  }

  /** Everything kept, in arrival order. */
  drain(): Doc[] {
    return this.heap.sort((a, b) => a.order - b.order).map((e) => e.item);
  }

  private pop(): { key: number; order: number; item: Doc } {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private less(a: { key: number; order: number }, b: { key: number; order: number }): boolean {
    return a.key < b.key || (a.key === b.key && a.order < b.order);
  }
  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[m]!, h[l]!)) m = l;
      if (r < h.length && this.less(h[m]!, h[r]!)) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
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
  const tokensPerShard = opts.tokensPerShard ?? 1 << 21;
  const valSize = opts.valSize;
  const valSizeKey = opts.valSizeKey ?? '--val-size';
  checkValSize(valSize, valSizeKey);
  const train = new Sink(dir, maxSeqLen, rowsPerBatch, tokensPerShard, pack, opts.perSourceRows ?? false);
  let val: Sink | undefined;
  if (valSize !== undefined) {
    mkdirSync(join(dir, 'val'), { recursive: true });
    val = new Sink(join(dir, 'val'), maxSeqLen, rowsPerBatch, tokensPerShard, pack, true);
  }
  const heldOut = valSize !== undefined && valSize >= 1 ? new SmallestKeys(valSize) : null;
  const totalBytes = sources.reduce((s, src) => s + weightedBytes(src), 0);
  let bytesBefore = 0;
  let bytesNow = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const needsSystemId = template.name !== 'telechat-52b';

  // Where a built document goes: training, or the held-out split (by its content's key).
  const toSink = (sink: Sink, d: Doc): void => {
    const st = sink.statsOf(d.src);
    if (sink === val) {
      // the held-out split's own counts; the training manifest counts it as held_out
      // kept whole or truncated, as the training manifest counts them
      st.conversations++;
      if (d.truncated) st.truncated++;
      else st.kept++;
      train.statsOf(d.src).held_out = (train.statsOf(d.src).held_out ?? 0) + 1;
    }
    st.tokens += d.doc.ids.length;
    st.loss_tokens += d.loss;
    sink.add(d.doc, d.src, d.loss);
  };
  const route = (d: Doc): void => {
    if (!val) return toSink(train, d);
    if (heldOut) {
      for (const out of heldOut.offer(splitKey(seed, d.doc), d)) toSink(train, out);
      return;
    }
    toSink(splitKey(seed, d.doc) < valSize! ? val : train, d);
  };

  // Pipeline: batch k is encoded on a worker thread while this thread parses batch k+1;
  // batches are finished strictly in order (at most two in flight).
  let batch: Array<{ conv: Conversation; src: Source }> = [];
  let previous: Promise<void> = Promise.resolve();
  const finish = (items: Array<{ src: Source }>, encoded: EncodedConversation[]): void => {
    encoded.forEach((enc, i) => {
      const src = items[i]!.src;
      const st = train.statsOf(src);
      st.conversations++;
      const fit = fitToLength(enc, maxSeqLen);
      if (fit.status === 'dropped') {
        st.dropped++;
        // too long to keep any answer that carries loss ("weight": 0 on the rest): counted apart
        if (fit.why === 'no-loss') st.dropped_no_loss = (st.dropped_no_loss ?? 0) + 1;
        return;
      }
      st[fit.status]++;
      route({ doc: fit.doc, src, truncated: fit.status === 'truncated', loss: countLoss(fit.doc.labels) });
    });
    opts.onProgress?.({ bytes: bytesNow, totalBytes, tokens: train.tokens + (val?.tokens ?? 0), conversations: train.documents + (val?.documents ?? 0) });
  };
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    const layout = layoutConversations(template, items.map((p) => p.conv), lossOn);
    const encoding = tok.encodeFlatAsync(layout.texts);
    inflight.add(encoding);
    // Handled when awaited below; this also avoids an unhandled-rejection report.
    encoding.catch(() => undefined).finally(() => inflight.delete(encoding));
    await previous;
    previous = encoding.then((ids) => finish(items, assembleConversations(tok, template, layout, ids)));
    previous.catch(() => undefined);
  };

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
    // one file under two spellings (a.jsonl and ./a.jsonl, or a link) would be read twice: a weight is how to repeat it
    const seen = new Map<string, string>();
    for (const [index, src] of sources.entries()) {
      const real = realpathSync(src.path);
      const before = seen.get(real);
      if (before !== undefined) {
        throw new DataError(`${opts.inputFlag ?? '--input'}: ${src.name} is given twice${before !== src.name ? ` (also as ${before})` : ''}; a mixing file weight repeats a file`);
      }
      seen.set(real, src.name);
      const st = train.statsOf(src);
      bytesNow = bytesBefore;
      for await (const line of weightedLines(src, index, seed, (b) => (bytesNow = bytesBefore + b))) {
        if (line.firstRead) st.lines++;
        let conv: Conversation;
        try {
          conv = parseLine(line.bytes, format, decoder);
          if (conv.ignored && line.firstRead) {
            const counts = (st.ignored_keys ??= {});
            for (const k of conv.ignored) counts[k] = (counts[k] ?? 0) + 1;
          }
          if (lossOn === 'last' && conv.turns[conv.turns.length - 1]!.loss === false) {
            throw new BadLine('no-loss', 'the last assistant message has "weight": 0, so under --loss-on last nothing in the conversation would be trained on');
          }
          if (conv.system !== undefined && needsSystemId && tok.special.system === undefined) {
            throw new DataError(
              `${src.display}:${where(line)}: the conversation has a system prompt but the tokenizer has no <_system> id`,
            );
          }
        } catch (e) {
          if (!(e instanceof BadLine)) throw e;
          if (!opts.skipBad) throw new DataError(`${src.display}:${where(line)}: ${e.message}: ${firstChars(line.bytes)}`);
          if (line.firstRead) st.skipped[e.reason] = (st.skipped[e.reason] ?? 0) + 1;
          continue;
        }
        if (!line.taken) continue;
        batch.push({ conv, src });
        if (batch.length >= LINES_PER_BATCH) await flush();
      }
      // an input with nothing in it is a wrong path or a failed export, not a source of zero lines
      if (st.lines === 0) throw new DataError(`${src.display}: no conversation in it (the file is empty or has only blank lines)`);
      await flush();
      await previous;
      bytesBefore += weightedBytes(src);
    }
  }
  // the count split's held-out documents, grouped by source so val rows never mix sources
  if (heldOut) {
    const kept = heldOut.drain();
    for (const src of sources) for (const d of kept) if (d.src === src) toSink(val!, d);
  }
  const shards = train.finish();
  if (train.rows === 0 && val && val.documents > 0) {
    throw new DataError(`${valSizeKey} ${valSize} holds out every conversation that survived (${val.documents}): none is left to train on; lower it`);
  }
  // max_seq_len by value: the trainer builds with data.max_seq_len (or training.max_seq_len), not a flag of ours
  if (train.rows === 0) throw new DataError(`no conversation survived: every input line was skipped or too long for max_seq_len ${maxSeqLen} (with an answer that carries loss)` + (val ? ' (or was held out for the eval split: --val-size, data.val_size)' : ''));
  const base = {
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
      added_tokens: addedTokenRecords(tok.addedTokens),
    },
    template: template.name,
    input_format: format,
    loss_on: lossOn,
    max_seq_len: maxSeqLen,
    packed: pack,
    seed,
  } as const;
  const manifestOf = (sink: Sink, shardInfos: ShardInfo[]): Manifest => ({
    ...base,
    tokenizer: { ...base.tokenizer },
    rows: sink.rows,
    documents: sink.documents,
    tokens: sink.tokens,
    loss_tokens: sink.lossTokens,
    packing_efficiency: sink.tokens / Math.max(1, sink.rows * maxSeqLen),
    rows_per_batch: sink.writer.rowsPerBatch,
    shards: shardInfos,
    sources: Object.fromEntries(
      Object.entries(sink.stats).map(([name, s]) => [name, sink.ranges[name] ? { ...s, row_ranges: sink.ranges[name] } : s]),
    ),
  });
  const manifest = manifestOf(train, shards);
  if (val) {
    const valShards = val.finish();
    if (val.rows === 0) {
      throw new DataError(`${valSizeKey} ${valSize} held out no conversation (of ${train.documents}); raise it`);
    }
    const valManifest: Manifest = { ...manifestOf(val, valShards), split: 'val' };
    writeFileSync(join(dir, 'val', 'manifest.json'), JSON.stringify(valManifest, null, 2) + '\n');
    manifest.val_size = valSize;
    manifest.val = { conversations: Object.values(val.stats).reduce((s, x) => s + x.conversations, 0), documents: val.documents, rows: val.rows, tokens: val.tokens, loss_tokens: val.lossTokens };
  }
  return manifest;
}
