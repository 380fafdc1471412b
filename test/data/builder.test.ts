// End-to-end builds through the library API, checked against the Python reference: every
// stored document must be exactly one conversation's reference ids/labels (after dropping its
// oldest turns when it is too long), every conversation lands exactly once, rows respect
// max_seq_len and doc_lens, and the reader gives back what was written.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { buildDataset } from '../../src/data/builder.js';
import type { LossOn } from '../../src/data/encode.js';
import { DatasetReader, type Row } from '../../src/data/reader.js';
import type { TemplateName } from '../../src/data/templates.js';
import { runPythonJson } from '../helpers/python.js';

const SAMPLE = 'data/sample-conversations.jsonl';
const TOK = 'data/tokenizer';
const work = mkdtempSync(join(tmpdir(), 'builder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface RefConv {
  system: string | null;
  turns: [string, string][];
}
const sampleConvs: RefConv[] = readFileSync(SAMPLE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => {
    const o = JSON.parse(l) as { system?: string; dialog: { role: string; content: string }[] };
    const turns: [string, string][] = [];
    for (let i = 0; i < o.dialog.length; i += 2) turns.push([o.dialog[i]!.content, o.dialog[i + 1]!.content]);
    return { system: o.system ?? null, turns };
  });

function reference(template: TemplateName, convs: RefConv[], lossOn: LossOn) {
  return runPythonJson<{ ids: number[]; labels: number[] }[]>(
    `import runpy, sys; sys.argv = ["chat_template.py"]; runpy.run_path("scripts/reference/chat_template.py", run_name="__main__")`,
    { model: `${TOK}/tokenizer.model`, ids: { '<_system>': 6, '<_user>': 4, '<_bot>': 5, '<_end>': 2 }, template, conversations: convs, loss_on: lossOn },
  );
}

async function readAll(dir: string): Promise<Row[]> {
  const r = DatasetReader.open(dir);
  const rows: Row[] = [];
  for (let i = 0; i < r.numRows; i++) rows.push(await r.row(i));
  await r.close();
  return rows;
}

/** Documents of all rows, as "ids|labels" keys, checking row invariants on the way. */
function documents(rows: Row[], maxSeqLen: number): string[] {
  const docs: string[] = [];
  for (const row of rows) {
    expect(row.inputIds.length).toBeLessThanOrEqual(maxSeqLen);
    expect(row.labels.length).toBe(row.inputIds.length);
    expect(row.docLens.reduce((s, d) => s + d, 0)).toBe(row.inputIds.length);
    let o = 0;
    for (const len of row.docLens) {
      expect(len).toBeGreaterThan(0);
      const ids = Array.from(row.inputIds.subarray(o, o + len));
      const labels = Array.from(row.labels.subarray(o, o + len));
      labels.forEach((l, i) => expect(l === -100 || l === ids[i]).toBe(true));
      docs.push(`${ids.join(',')}|${labels.join(',')}`);
      o += len;
    }
  }
  return docs.sort();
}

const key = (d: { ids: number[]; labels: number[] }) => `${d.ids.join(',')}|${d.labels.join(',')}`;

describe('dataset builder', () => {
  it('packs the sample set at >= 95% efficiency with every conversation stored exactly as the reference', async () => {
    const out = join(work, 'packed');
    const m = await buildDataset({ input: SAMPLE, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 512 });
    expect(m.sources[SAMPLE]).toMatchObject({ lines: 360, conversations: 360, kept: 360, truncated: 0, dropped: 0 });
    expect(m.packing_efficiency).toBeGreaterThanOrEqual(0.95);
    const rows = await readAll(out);
    expect(rows.length).toBe(m.rows);
    const docs = documents(rows, 512);
    expect(docs).toEqual(reference('telechat2', sampleConvs, 'all').map(key).sort());
    expect(m.tokens).toBe(rows.reduce((s, r) => s + r.inputIds.length, 0));
    expect(m.loss_tokens).toBe(rows.reduce((s, r) => s + r.labels.filter((l) => l !== -100).length, 0));
    expect(m.packing_efficiency).toBeCloseTo(m.tokens / (m.rows * 512), 12);
    expect(readdirSync(work).filter((f) => f.includes('.tmp-'))).toEqual([]); // temp dir renamed away
  });

  it('drops oldest whole turns to fit (keeping the system prompt), else drops, and counts both', async () => {
    const max = 64;
    const out = join(work, 'short');
    const m = await buildDataset({ input: SAMPLE, tokenizerDir: TOK, template: 'telechat', output: out, maxSeqLen: max, lossOn: 'last', pack: false });
    // Reference: every suffix of every conversation; the expected document is the longest one that fits.
    const suffixes = sampleConvs.flatMap((c) => c.turns.map((_, k) => ({ system: c.system, turns: c.turns.slice(k) })));
    const ref = reference('telechat', suffixes, 'last');
    let at = 0;
    const expected: string[] = [];
    let kept = 0, truncated = 0, dropped = 0;
    for (const c of sampleConvs) {
      const options = ref.slice(at, at + c.turns.length);
      at += c.turns.length;
      const k = options.findIndex((d) => d.ids.length <= max);
      if (k < 0) dropped++;
      else {
        if (k === 0) kept++;
        else truncated++;
        expected.push(key(options[k]!));
      }
    }
    expect(truncated).toBeGreaterThan(10); // the case is really exercised
    expect(dropped).toBeGreaterThan(0);
    expect(m.sources[SAMPLE]).toMatchObject({ kept, truncated, dropped });
    const rows = await readAll(out);
    expect(rows.length).toBe(kept + truncated); // --no-pack: one conversation per row
    rows.forEach((r) => expect(Array.from(r.docLens)).toEqual([r.inputIds.length]));
    expect(documents(rows, max)).toEqual(expected.sort());
  });

  it('reads the same conversation identically in all four input formats', async () => {
    const sys = 'Be brief.';
    const q1 = '你好', a1 = 'Hello!', q2 = 'What is 2+2?', a2 = '4.';
    const lines = [
      { input: `<_system>${sys}<_user>${q1}<_bot>${a1}<_end><_user>${q2}`, output: a2 },
      { system: sys, dialog: [{ role: 'user', content: q1 }, { role: 'bot', content: a1 }, { role: 'user', content: q2 }, { role: 'bot', content: a2 }] },
      { messages: [{ role: 'system', content: sys }, { role: 'user', content: q1 }, { role: 'assistant', content: a1 }, { role: 'user', content: q2 }, { role: 'assistant', content: a2 }] },
      { conversations: [{ from: 'system', value: sys }, { from: 'human', value: q1 }, { from: 'gpt', value: a1 }, { from: 'human', value: q2 }, { from: 'gpt', value: a2 }] },
    ];
    const file = join(work, 'formats.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const out = join(work, 'formats');
    await buildDataset({ input: file, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 256, pack: false });
    const rows = await readAll(out);
    expect(rows.length).toBe(4);
    const ref = key(reference('telechat2', [{ system: sys, turns: [[q1, a1], [q2, a2]] }], 'all')[0]!);
    expect(documents(rows, 256)).toEqual([ref, ref, ref, ref]);
  });

  it('resamples a mixing file by weight, seeded', async () => {
    const a = join(work, 'mix-a.jsonl');
    const b = join(work, 'mix-b.jsonl');
    const all = readFileSync(SAMPLE, 'utf8').trim().split('\n');
    writeFileSync(a, all.slice(0, 10).join('\n') + '\n');
    writeFileSync(b, all.slice(10, 50).join('\n') + '\n');
    const mix = join(work, 'mix.json');
    writeFileSync(mix, JSON.stringify({ 'mix-a.jsonl': 2.0, 'mix-b.jsonl': 0.25 }));
    const build = async (name: string, seed: number) => {
      const out = join(work, name);
      const m = await buildDataset({ input: mix, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 512, pack: false, seed });
      return { m, docs: documents(await readAll(out), 512) };
    };
    const x = await build('mix1', 1);
    expect(x.m.sources['mix-a.jsonl']).toMatchObject({ lines: 10, conversations: 20 }); // 2 full copies
    expect(x.m.sources['mix-b.jsonl']).toMatchObject({ lines: 40, conversations: 10 }); // round(0.25 x 40)
    expect(x.m.documents).toBe(30);
    const y = await build('mix2', 1);
    expect(y.docs).toEqual(x.docs); // same seed, same data
    const z = await build('mix3', 2);
    expect(z.docs).not.toEqual(x.docs); // another seed picks another quarter of b
    // The quarter of b is 10 distinct lines of b.
    const bRef = new Set(reference('telechat2', sampleConvs.slice(10, 50), 'all').map(key));
    const fromB = x.docs.filter((d) => bRef.has(d));
    expect(new Set(fromB).size).toBe(10);
  });

  it('writes several shards and record batches; the reader pages through them in any order', async () => {
    const out = join(work, 'shards');
    const m = await buildDataset({
      input: SAMPLE, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 128, pack: false,
      rowsPerBatch: 7, tokensPerShard: 3000,
    });
    expect(m.shards.length).toBeGreaterThan(3);
    const seq = await readAll(out);
    const r = DatasetReader.open(out, { cacheBatches: 2 }); // a tiny cache forces re-reads
    const order = Array.from({ length: r.numRows }, (_, i) => (i * 7919) % r.numRows);
    const got = await r.rows(order);
    order.forEach((idx, k) => {
      expect(Array.from(got[k]!.inputIds)).toEqual(Array.from(seq[idx]!.inputIds));
      expect(Array.from(got[k]!.labels)).toEqual(Array.from(seq[idx]!.labels));
    });
    await expect(r.row(r.numRows)).rejects.toThrow(/out of range/);
    await r.close();
    // Paged, not loaded whole: one row costs its record batch plus the footer, a small part of
    // its shard. Count the bytes that file handles read while a fresh reader serves one row.
    // (Opening also streams every shard once through sha256, in fixed chunks with fs.readSync,
    // so memory stays bounded; that pass is not a file-handle read and is not counted.)
    const probe = await open(join(out, m.shards[0]!.file));
    const proto = Object.getPrototypeOf(probe) as { read: (...a: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    const read = proto.read;
    let bytes = 0;
    proto.read = async function (this: unknown, ...a: unknown[]) {
      const res = await read.apply(this, a);
      bytes += res.bytesRead;
      return res;
    };
    try {
      const fresh = DatasetReader.open(out);
      await fresh.row(3);
      await fresh.close();
    } finally {
      proto.read = read;
    }
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThan(statSync(join(out, m.shards[0]!.file)).size / 4);
  });

  it('takes the template from a model dir\'s config.json', async () => {
    const one = join(work, 'one.jsonl');
    writeFileSync(one, readFileSync(SAMPLE, 'utf8').split('\n').slice(0, 5).join('\n') + '\n');
    for (const [config, template] of [
      [{ model_type: 'telechat', architectures: ['TeleChat2ForCausalLM'] }, 'telechat2'],
      [{ model_type: 'telechat', architectures: ['TelechatForCausalLM'], n_embd: 64 }, 'telechat-52b'],
    ] as const) {
      const model = join(work, `model-${template}`);
      mkdirSync(model);
      for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join(TOK, f), join(model, f));
      writeFileSync(join(model, 'config.json'), JSON.stringify(config));
      const m = await buildDataset({ input: one, tokenizerDir: model, output: join(work, `ds-${template}`), maxSeqLen: 512 });
      expect(m.template).toBe(template);
      // --tokenizer elsewhere, --model for the template.
      const m2 = await buildDataset({ input: one, tokenizerDir: TOK, modelDir: model, output: join(work, `ds2-${template}`), maxSeqLen: 512 });
      expect(m2.template).toBe(template);
    }
  });

  it('"weight": 0 takes an answer out of the loss; under --loss-on last a weight-0 final answer is refused', async () => {
    const msgs = (w: number) => [
      { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello there', weight: w },
      { role: 'user', content: 'and now' }, { role: 'assistant', content: 'now this' },
    ];
    const input = join(work, 'weights.jsonl');
    const loss = async (w: number, lossOn: LossOn = 'all') => {
      writeFileSync(input, JSON.stringify({ messages: msgs(w) }) + '\n');
      return (await buildDataset({ input, tokenizerDir: TOK, template: 'telechat2', output: join(work, `w${w}-${lossOn}`), maxSeqLen: 512, lossOn })).loss_tokens;
    };
    const all = await loss(1);
    const zero = await loss(0);
    expect(zero).toBeLessThan(all);
    expect(zero).toBe(await loss(1, 'last')); // only the second answer (and its <_end>) left
    writeFileSync(input, JSON.stringify({ messages: [...msgs(1).slice(0, 3), { role: 'assistant', content: 'now this', weight: 0 }] }) + '\n');
    await expect(buildDataset({ input, tokenizerDir: TOK, template: 'telechat2', output: join(work, 'w-last'), maxSeqLen: 512, lossOn: 'last' })).rejects.toThrow(
      /weights\.jsonl:1: the last assistant message has "weight": 0, so under --loss-on last/,
    );
  });

  it('a conversation whose fitted form keeps no loss token is dropped (counted), under --loss-on all and last', async () => {
    const long = 'This long first answer carries the only loss of the conversation, and it goes on and on. '.repeat(2);
    const weighted = (w?: 0) => ({
      messages: [
        { role: 'user', content: 'hi' }, { role: 'assistant', content: long },
        { role: 'user', content: 'ok' }, { role: 'assistant', content: 'fine', ...(w === 0 ? { weight: 0 } : {}) },
      ],
    });
    const good = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] };
    const input = join(work, 'noloss.jsonl');
    const build = (name: string, lines: unknown[], lossOn: LossOn) => {
      writeFileSync(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      return buildDataset({ input, tokenizerDir: TOK, template: 'telechat2', output: join(work, name), maxSeqLen: 40, lossOn, pack: false });
    };
    // the weighted first answer does not fit: what fits is the weight-0 last turn alone, so the conversation is dropped
    const m = await build('noloss-all', [weighted(0), good], 'all');
    expect(m.sources[input]).toMatchObject({ conversations: 2, kept: 1, truncated: 0, dropped: 1, dropped_no_loss: 1 });
    expect(m.documents).toBe(1);
    const rows = await readAll(join(work, 'noloss-all'));
    for (const r of rows) expect(r.labels.some((l) => l !== -100)).toBe(true);
    expect(m.loss_tokens).toBe(rows.reduce((s, r) => s + r.labels.filter((l) => l !== -100).length, 0));
    // nothing but such conversations: no dataset, an error, no output dir
    await expect(build('noloss-only', [weighted(0), weighted(0)], 'all')).rejects.toThrow(/no conversation survived.*with an answer that carries loss/);
    expect(existsSync(join(work, 'noloss-only'))).toBe(false);
    // without the weight, the truncated conversation keeps its last answer's loss (all and last)
    for (const lossOn of ['all', 'last'] as const) {
      const k = await build(`noloss-unweighted-${lossOn}`, [weighted()], lossOn);
      expect(k.sources[input]).toMatchObject({ kept: 0, truncated: 1, dropped: 0 });
      expect(k.sources[input]!.dropped_no_loss).toBeUndefined();
      expect(k.loss_tokens).toBeGreaterThan(0);
    }
    // under --loss-on last a weight-0 final answer is refused outright (before fitting)
    await expect(build('noloss-last', [weighted(0)], 'last')).rejects.toThrow(/noloss\.jsonl:1: the last assistant message has "weight": 0/);
  });

  it('builds TeleChat2 "tool": true lines with the normal template, as the reference renders them', async () => {
    const system = '# 工具\n\n## 你拥有如下工具：\n\n{"name": "get_weather", "parameters": {"city": "string"}}';
    const turns: [string, string][] = [
      ['北京天气怎么样？', '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call>'],
      ['<tool_response>\n{"weather": "晴", "temp": 25}\n</tool_response>', '北京今天晴，25度。'],
    ];
    const dialog = turns.flatMap(([q, a]) => [{ role: 'user', content: q }, { role: 'bot', content: a }]);
    const input = join(work, 'tool.jsonl');
    writeFileSync(input, JSON.stringify({ system, dialog, multiturn: true, tool: true }) + '\n');
    const out = join(work, 'tool');
    const m = await buildDataset({ input, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 512 });
    expect(m.sources[input]).toMatchObject({ kept: 1, dropped: 0, skipped: {} });
    expect(m.sources[input]!.ignored_keys).toBeUndefined();
    expect(documents(await readAll(out), 512)).toEqual([key(reference('telechat2', [{ system, turns }], 'all')[0]!)]);
  });

  it('leaves no output dir when the build fails, and refuses to overwrite without --overwrite', async () => {
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, readFileSync(SAMPLE, 'utf8').split('\n').slice(0, 3).join('\n') + '\n{"dialog": [}\n');
    const out = join(work, 'failed');
    await expect(buildDataset({ input: bad, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 512 })).rejects.toThrow(
      /bad\.jsonl:4: malformed JSON/,
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // A bad line after the first batches (encodes in flight on the worker thread) reports the same way.
    const late = join(work, 'late.jsonl');
    const good = readFileSync(SAMPLE, 'utf8').trim().split('\n');
    writeFileSync(late, [...good, ...good, '{"dialog": [{"role": "user", "content": "q"}]}'].join('\n') + '\n');
    await expect(buildDataset({ input: late, tokenizerDir: TOK, template: 'telechat2', output: out, maxSeqLen: 512 })).rejects.toThrow(
      /late\.jsonl:721: the conversation does not end with a bot turn/,
    );
    expect(existsSync(out)).toBe(false);
    await expect(buildDataset({ input: SAMPLE, tokenizerDir: TOK, template: 'telechat2', output: join(work, 'packed'), maxSeqLen: 512 })).rejects.toThrow(
      /exists and is not empty/,
    );
  });
});
