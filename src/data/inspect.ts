// Human-readable views of a dataset dir: summary stats and one row rendered with its
// loss-bearing tokens marked, so a user can see the mask.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Manifest, SourceStats } from './manifest.js';
import type { Row } from './reader.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

/**
 * The notes a source's stats call for: one per key its lines carry that their format does not read
 * (the build trains without it), and one when a mixing file's entry was read relative to the working directory.
 */
export function sourceNotes(name: string, s: SourceStats): string[] {
  return [
    // a mixing file's entry read from the working directory (not found next to the mixing file)
    ...(s.relative_to === 'cwd' ? [`note: source ${name}: not found relative to the mixing file; read relative to the working directory: ${s.path}`] : []),
    ...Object.entries(s.ignored_keys ?? {}).map(([key, n]) => `note: source ${name}: key "${key}" on ${n} line(s) is not read by its format (not training input)`),
  ];
}

/** What became of one source's conversations: read, kept whole, truncated, dropped, skipped. */
export function sourceLine(name: string, s: SourceStats): string {
  const skipped = Object.entries(s.skipped).map(([r, n]) => `${r} ${n}`);
  return `source ${name} (weight ${s.weight}): ${s.lines} lines, ${s.conversations} read, kept ${s.kept}, truncated ${s.truncated}, ` +
    `dropped ${s.dropped}${s.dropped_no_loss ? ` (${s.dropped_no_loss} with no answer carrying loss left after fitting)` : ''}, skipped ${skipped.length ? skipped.join(', ') : '0'}`;
}

export function summarize(m: Manifest): string {
  const lines = [
    `template ${m.template}, tokenizer ${m.tokenizer.kind} (${m.tokenizer.vocab_size} pieces, sha256 ${m.tokenizer.sha256.slice(0, 12)}…)`,
    `max_seq_len ${m.max_seq_len}, ${m.packed ? 'packed' : 'one conversation per row'}, loss on ${m.loss_on} answers`,
    `rows ${m.rows}, documents ${m.documents}, tokens ${m.tokens}, loss tokens ${m.loss_tokens} ` +
      `(${((100 * m.loss_tokens) / Math.max(1, m.tokens)).toFixed(1)}%), packing efficiency ${(100 * m.packing_efficiency).toFixed(2)}%`,
    `shards ${m.shards.length}: ${m.shards.map((s) => `${s.file} (${s.rows} rows)`).join(', ')}`,
  ];
  for (const [name, s] of Object.entries(m.sources)) {
    lines.push(sourceLine(name, s));
    for (const line of sourceNotes(name, s)) lines.push(line);
  }
  if (m.val) {
    const n = m.val_size ?? 0;
    // a count split never cuts a group of identical conversations: it rounds up to whole groups
    const rounded =
      n >= 1 && m.val.conversations !== n
        ? ` (--val-size ${n} rounded up to whole groups: identical conversations stay on one side of the split)`
        : '';
    lines.push(`val/ (--val-size ${m.val_size}): ${m.val.conversations} conversations held out${rounded}, ${m.val.rows} rows, ${m.val.tokens} tokens, loss tokens ${m.val.loss_tokens}`);
  }
  return lines.join('\n');
}

/**
 * The build's tokenizer when it is still where it was and unchanged, else undefined; a tokenizer
 * dir the user names (`override`, inspect's --tokenizer) must hold it, else an error.
 */
export function manifestTokenizer(m: Manifest, override?: string): Tokenizer | undefined {
  const dir = override ?? m.tokenizer.dir;
  if (!existsSync(join(dir, m.tokenizer.file))) {
    if (override === undefined) return undefined;
    throw new Error(`--tokenizer ${override}: no ${m.tokenizer.file} there (the dataset was built with ${join(m.tokenizer.dir, m.tokenizer.file)})`);
  }
  const tok = loadTokenizer(dir);
  if (tok.sha256 !== m.tokenizer.sha256) {
    tok.close();
    throw new Error(`${dir}: this tokenizer differs from the one the dataset was built with (sha256 mismatch)`);
  }
  return tok;
}

const LOSS_OPEN = '[[';
const LOSS_CLOSE = ']]';

/**
 * Renders a row document by document. Loss-bearing tokens are wrapped in [[ ]] (and green on
 * a terminal); special ids print as their pieces. Without a tokenizer, ids print raw with
 * loss ids starred.
 */
export async function renderRow(row: Row, tok: Tokenizer | undefined, color: boolean): Promise<string> {
  const out: string[] = [];
  const specials = new Set(Object.values(tok?.special ?? {}));
  let o = 0;
  for (const [d, len] of row.docLens.entries()) {
    const ids = row.inputIds.subarray(o, o + len);
    const labels = row.labels.subarray(o, o + len);
    let loss = 0;
    for (const l of labels) if (l !== -100) loss++;
    out.push(`--- document ${d} (positions ${o}..${o + len - 1}, ${len} tokens, ${loss} with loss)`);
    if (!tok) {
      out.push(Array.from(ids, (id, i) => (labels[i] !== -100 ? `${id}*` : `${id}`)).join(' '));
    } else {
      let text = '';
      let i = 0;
      while (i < len) {
        const isLoss = labels[i] !== -100;
        let j = i;
        const run: number[] = [];
        // A run: same loss flag; a special id is a run of its own.
        if (specials.has(ids[i]!)) {
          run.push(ids[i]!);
          j = i + 1;
        } else {
          while (j < len && (labels[j] !== -100) === isLoss && !specials.has(ids[j]!)) run.push(ids[j++]!);
        }
        const body = specials.has(run[0]!) ? tok.idToPiece(run[0]!) : await tok.decodeAsync(run);
        text += isLoss ? (color ? `\x1b[32m${LOSS_OPEN}${body}${LOSS_CLOSE}\x1b[0m` : `${LOSS_OPEN}${body}${LOSS_CLOSE}`) : body;
        i = j;
      }
      out.push(text);
    }
    o += len;
  }
  return out.join('\n');
}
