// Acceptance checks of telechat-data on inputs a LLaMA-Factory / TeleChat user brings, driven
// through the command line (node dist/cli/data.js) as docs/data.md describes it: every bad input
// is one error naming FILE:LINE (or the file), a non-zero exit and no output dir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(join(tmpdir(), 'accept-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[], cwd?: string) {
  const script = join(process.cwd(), 'dist/cli/data.js');
  const r = spawnSync('node', [script, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TOK = join(process.cwd(), 'data/tokenizer');
let n = 0;
/** Builds `lines` (written to a fresh file) and returns the result plus the paths used. */
function build(lines: string[], extra: string[] = [], name = 'in.jsonl') {
  const dir = join(work, `case-${n++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const input = join(dir, name);
  writeFileSync(input, lines.join('\n') + '\n');
  const output = join(dir, 'ds');
  const template = extra.includes('--template') ? [] : ['--template', 'telechat2'];
  const r = cli(['build', '--input', input, '--tokenizer', TOK, ...template, '--output', output, '--max-seq-len', '256', ...extra]);
  return { ...r, input, output, dir };
}

const good = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });

describe('lone surrogates (JSON escapes that are no character)', () => {
  // "\ud800" is valid JSON in valid UTF-8, but decodes to no character: encoding it would turn it
  // into U+FFFD silently (Python sentencepiece refuses it). Paired escapes (an emoji) are fine.
  const lone = String.raw`{"messages": [{"role": "user", "content": "lone \ud800 here"}, {"role": "assistant", "content": "ok"}]}`;
  it('is refused naming file, line and field, with no output', () => {
    const r = build([good, lone]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in\.jsonl:2: field "content" in messages\[0\] holds a lone surrogate \\ud800/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(r.output)).toBe(false);
  });
  it('is named in system, alpaca history and telechat v1 fields too', () => {
    const cases: Array<[string, RegExp]> = [
      [String.raw`{"system": "\udfff", "dialog": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}`, /field "system" holds a lone surrogate \\udfff/],
      [String.raw`{"instruction": "q", "output": "a", "history": [["q0", "a\ud83d"]]}`, /the answer in history\[0\] holds a lone surrogate \\ud83d/],
      [String.raw`{"instruction": "q", "input": "\ude00", "output": "a"}`, /field "input" holds a lone surrogate \\ude00/],
      [String.raw`{"input": "q", "output": "a\ud800"}`, /field "output" holds a lone surrogate \\ud800/],
    ];
    for (const [line, msg] of cases) {
      const r = build([line]);
      expect(r.code, line).toBe(1);
      expect(r.stderr, line).toMatch(msg);
    }
  });
  it('a surrogate pair (an escaped emoji) builds, and --skip-bad counts the lone one as non-utf8', () => {
    const pair = String.raw`{"messages": [{"role": "user", "content": "smile \ud83d\ude00"}, {"role": "assistant", "content": "ok"}]}`;
    const r = build([pair, lone], ['--skip-bad']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(r.output, 'manifest.json'), 'utf8'));
    const src = Object.values(m.sources)[0] as { kept: number; skipped: Record<string, number> };
    expect(src.kept).toBe(1);
    expect(src.skipped).toEqual({ 'non-utf8': 1 });
  });
});

describe('inspect checks the held-out split (val/) as part of the dataset dir', () => {
  const lines = Array.from({ length: 40 }, (_, i) =>
    JSON.stringify({ messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer number ${i}` }] }),
  );
  it('--verify verifies val/ too, and a damaged val/ shard fails naming the file', () => {
    const r = build(lines, ['--val-size', '0.25']);
    expect(r.code, r.stderr).toBe(0);
    const ok = cli(['inspect', r.output, '--verify']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verified: val\/: 1 shard\(s\) match manifest\.json/m);
    // flip one byte in the middle of val/'s shard
    const shard = join(r.output, 'val', 'shard-00000.arrow');
    const bytes = readFileSync(shard);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(shard, bytes);
    for (const args of [['inspect', r.output, '--verify'], ['inspect', r.output]]) {
      const bad = cli(args);
      expect(bad.code, args.join(' ')).toBe(1);
      expect(bad.stderr).toMatch(/val\/shard-00000\.arrow: sha256 [0-9a-f]+… does not match manifest\.json's/);
    }
  });
});

describe('inspect --tokenizer is never accepted and then ignored', () => {
  it('a --tokenizer dir without the build\'s tokenizer file is an error, not a silent fall-back to raw ids', () => {
    const r = build([good]);
    expect(r.code, r.stderr).toBe(0);
    const empty = join(r.dir, 'no-tokenizer');
    mkdirSync(empty);
    const bad = cli(['inspect', r.output, '--row', '0', '--tokenizer', empty]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--tokenizer .*no-tokenizer: no tokenizer\.model there \(the dataset was built with .*data\/tokenizer\/tokenizer\.model\)/);
    const ok = cli(['inspect', r.output, '--row', '0', '--tokenizer', TOK]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('<_user>hi<_bot>[[hello]][[<_end>]]');
  });
  it('--tokenizer without --row (where nothing reads it) is refused', () => {
    const r = build([good]);
    const bad = cli(['inspect', r.output, '--tokenizer', TOK]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--tokenizer is only read with --row N/);
  });
});

describe('a .json --input that is not a mixing file is read as what it is, or says what it is', () => {
  const record = { instruction: 'Say hi', input: '', output: 'hi' };
  const cases: Array<[string, string, RegExp]> = [
    ['dataset_info.json', JSON.stringify({ alpaca_en_demo: { file_name: 'alpaca_en_demo.json' } }), /dataset_info\.json: key "alpaca_en_demo": \{"file_name": \.\.\.\} is a LLaMA-Factory dataset_info\.json entry, not a weight/],
    ['one.json', JSON.stringify(record), /one\.json: a conversation \(it has "instruction"\), not a mixing file/],
    ['two.json', `${JSON.stringify(record)}\n${JSON.stringify(record)}`, /two\.json:2:1: the mixing file is not valid JSON .*looks like jsonl .*name it \.jsonl/],
    // JSON.parse keeps the last weight: the first would be dropped without a word
    ['twice.json', '{\n  "a.jsonl": 2,\n  "a.jsonl": 0.5\n}', /twice\.json:3:3: "a\.jsonl" is given twice \(first at 2:3\); give each file once, with the sum of its weights if that is what you meant/],
  ];
  for (const [name, text, message] of cases) {
    it(name, () => {
      const dir = join(work, `json-${name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), text);
      const r = cli(['build', '--input', name, '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(join(dir, 'ds'))).toBe(false);
    });
  }
  it('a JSON array of conversations (LLaMA-Factory\'s .json datasets) is a dataset: built like jsonl, errors at the element\'s line', () => {
    const dir = join(work, 'json-array');
    mkdirSync(dir, { recursive: true });
    // LLaMA-Factory's data/alpaca_en_demo.json layout: indented, one object per element
    writeFileSync(join(dir, 'alpaca_en_demo.json'), '\uFEFF' + JSON.stringify([record, { ...record, output: 'hello, "you" [1]' }], null, 2));
    const r = cli(['build', '--input', 'alpaca_en_demo.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(dir, 'ds', 'manifest.json'), 'utf8'));
    expect([m.documents, m.sources['alpaca_en_demo.json'].lines, m.sources['alpaca_en_demo.json'].kept]).toEqual([2, 2, 2]);
    // the same records as jsonl build the same rows
    writeFileSync(join(dir, 'same.jsonl'), [record, { ...record, output: 'hello, "you" [1]' }].map((x) => JSON.stringify(x)).join('\n') + '\n');
    const j = cli(['build', '--input', 'same.jsonl', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-jsonl', '--max-seq-len', '64', '--no-pack'], dir);
    const a = cli(['build', '--input', 'alpaca_en_demo.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-array', '--max-seq-len', '64', '--no-pack'], dir);
    expect([j.code, a.code]).toEqual([0, 0]);
    const rowOf = (ds: string) => cli(['inspect', join(dir, ds), '--row', '1']).stdout.split('\n').slice(-3).join('\n');
    expect(rowOf('ds-array')).toBe(rowOf('ds-jsonl'));
    // a bad element is FILE:LINE (the line it starts on), as a bad jsonl line is; and inside a mixing file too
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([record, { instruction: 'x', output: '' }], null, 2));
    const bad = cli(['build', '--input', 'bad.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-bad', '--max-seq-len', '64'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^telechat-data: bad\.json:7 \(array index 1\): empty "output": \{ "instruction": "x", "output": "" \}\n$/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1); // the indented element's text on one line
    // a minified array has every element on line 1: the index tells them apart
    writeFileSync(join(dir, 'mini.json'), JSON.stringify([record, record, { instruction: 'x', output: '' }]));
    const mini = cli(['build', '--input', 'mini.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-mini', '--max-seq-len', '64'], dir);
    expect(mini.stderr).toMatch(/^telechat-data: mini\.json:1 \(array index 2\): empty "output"/);
    // only a .json is read as an array: a jsonl line that is an array is a bad line, as always
    writeFileSync(join(dir, 'arrays.jsonl'), JSON.stringify([record]) + '\n');
    const lines = cli(['build', '--input', 'arrays.jsonl', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-lines', '--max-seq-len', '64'], dir);
    expect(lines.stderr).toMatch(/^telechat-data: arrays\.jsonl:1: a line must be a JSON object, got an array/);
    writeFileSync(join(dir, 'mix.json'), JSON.stringify({ 'alpaca_en_demo.json': 1.5 }));
    const mix = cli(['build', '--input', 'mix.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-mix', '--max-seq-len', '64'], dir);
    expect(mix.code, mix.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'ds-mix', 'manifest.json'), 'utf8')).documents).toBe(3);
    // the array's own structure: not closed, an empty element, text after it
    for (const [text, message] of [
      [`[${JSON.stringify(record)},\n${JSON.stringify(record)}`, /^telechat-data: broken\.json:2: the JSON array is not closed/],
      [`[${JSON.stringify(record)},,${JSON.stringify(record)}]`, /^telechat-data: broken\.json:1: an empty element in the JSON array/],
      [`[${JSON.stringify(record)},\n]`, /^telechat-data: broken\.json:2: an empty element in the JSON array/],
      [`[${JSON.stringify(record)}]\n[]`, /^telechat-data: broken\.json:2: text after the JSON array's closing "\]"/],
    ] as const) {
      writeFileSync(join(dir, 'broken.json'), text);
      const b = cli(['build', '--input', 'broken.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds-broken', '--max-seq-len', '64'], dir);
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(message);
      expect(b.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(join(dir, 'ds-broken'))).toBe(false);
    }
  });

  it('a JSON array past the 2 GiB one read can hold: refused with the jq command that converts it, paths shell-quoted', () => {
    const dir = join(work, 'json-huge');
    mkdirSync(dir, { recursive: true });
    // a sparse file: "[" and then 2 GiB of holes, which take no disk
    const name = "it's big.json";
    writeFileSync(join(dir, name), '[');
    truncateSync(join(dir, name), 2 ** 31);
    const r = cli(['build', '--input', name, '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`telechat-data: ${name}: a JSON array of ${2 ** 31} bytes, more than the 2 GiB one read can hold; convert it to jsonl, which is streamed: ` +
      `jq -c '.[]' 'it'\\''s big.json' > 'it'\\''s big.jsonl'\n`);
    expect(existsSync(join(dir, 'ds'))).toBe(false);
    rmSync(join(dir, name));
  });

  it('a real mixing file still builds', () => {
    const dir = join(work, 'json-mix');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.jsonl'), good + '\n');
    writeFileSync(join(dir, 'mix.json'), JSON.stringify({ 'a.jsonl': 2 }));
    const r = cli(['build', '--input', 'mix.json', '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'ds', 'manifest.json'), 'utf8')).documents).toBe(2);
  });
});

describe('an input file with no line in it', () => {
  for (const [what, text] of [['empty', ''], ['blank lines only (CRLF, tabs)', '\r\n  \r\n\t\n']] as const) {
    it(`${what}: one error naming that file, also beside a good file`, () => {
      const dir = join(work, `empty-${what.length}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'good.jsonl'), good + '\n');
      writeFileSync(join(dir, 'empty.jsonl'), text);
      for (const input of ['empty.jsonl', 'good.jsonl,empty.jsonl']) {
        const r = cli(['build', '--input', input, '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
        expect(r.code, input).toBe(1);
        expect(r.stderr.trim()).toBe('telechat-data: empty.jsonl: no conversation in it (the file is empty or has only blank lines)');
        expect(existsSync(join(dir, 'ds'))).toBe(false);
      }
    });
  }
});

describe('one file given twice under two spellings', () => {
  it('is refused like the same spelling twice (it would be read twice)', () => {
    const dir = join(work, 'twice');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.jsonl'), good + '\n');
    writeFileSync(join(dir, 'mix.json'), JSON.stringify({ 'a.jsonl': 1, './a.jsonl': 0.5 }));
    symlinkSync('a.jsonl', join(dir, 'link.jsonl'));
    const cases: Array<[string, RegExp]> = [
      ['a.jsonl,a.jsonl', /--input: a\.jsonl is given twice; /],
      ['a.jsonl,./a.jsonl', /--input: \.\/a\.jsonl is given twice \(also as a\.jsonl\)/],
      ['a.jsonl,link.jsonl', /--input: link\.jsonl is given twice \(also as a\.jsonl\)/],
      ['mix.json', /--input: \.\/a\.jsonl is given twice \(also as a\.jsonl\)/],
    ];
    for (const [input, message] of cases) {
      const r = cli(['build', '--input', input, '--tokenizer', TOK, '--template', 'telechat2', '--output', 'ds', '--max-seq-len', '64'], dir);
      expect(r.code, input).toBe(1);
      expect(r.stderr, input).toMatch(message);
      expect(existsSync(join(dir, 'ds'))).toBe(false);
    }
  });
});

describe('LLaMA-Factory columns a text template cannot express are refused in every format', () => {
  const tools = JSON.stringify([{ name: 'get_weather', parameters: {} }]);
  const cases: Array<[string, object, RegExp]> = [
    // LLaMA-Factory's converter reads a mapped "tools" column for alpaca as for sharegpt
    ['alpaca tools', { instruction: 'weather?', output: 'calling', tools }, /field "tools" lists tools, but the alpaca format has no tool template/],
    ['alpaca images', { instruction: '<image>who?', output: 'a cat', images: ['a.jpg'] }, /field "images" lists media, but telechat-train trains text-only models/],
    [
      'messages images (mllm_demo.json)',
      { messages: [{ role: 'user', content: '<image>Who are they?' }, { role: 'assistant', content: 'players' }], images: ['mllm_demo_data/1.jpg'] },
      /field "images" lists media/,
    ],
    ['sharegpt videos', { conversations: [{ from: 'human', value: '<video>what?' }, { from: 'gpt', value: 'a dog' }], videos: ['v.mp4'] }, /field "videos" lists media/],
    ['sharegpt audios', { conversations: [{ from: 'human', value: '<audio>what?' }, { from: 'gpt', value: 'rain' }], audios: ['a.wav'] }, /field "audios" lists media/],
  ];
  for (const [what, line, message] of cases) {
    it(what, () => {
      const r = build([good, JSON.stringify(line)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/in\.jsonl:2: /);
      expect(r.stderr).toMatch(message);
      expect(existsSync(r.output)).toBe(false);
    });
  }
  it('empty ones carry nothing and are not reported as ignored keys', () => {
    const r = build([
      JSON.stringify({ instruction: 'q', output: 'a', tools: '', images: [] }),
      JSON.stringify({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }], tools: '[]', videos: null }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/note:/);
    const m = JSON.parse(readFileSync(join(r.output, 'manifest.json'), 'utf8'));
    expect((Object.values(m.sources)[0] as { kept: number; ignored_keys?: object }).kept).toBe(2);
    expect((Object.values(m.sources)[0] as { ignored_keys?: object }).ignored_keys).toBeUndefined();
  });
});

describe('telechat-train names the data key, not telechat-data\'s flag', () => {
  function dryRun(set: string) {
    const r = spawnSync(
      'node',
      ['dist/cli/train.js', '--config', 'configs/zero1.json', '--init', 'random', '--model-config', 'data/tiny-model/config.json',
        '--data', 'data/sample-conversations.jsonl', '--output-dir', join(work, 'run'), '--dry-run', '--set', set],
      { encoding: 'utf8' },
    );
    return { code: r.status, stderr: r.stderr };
  }
  it('data.max_seq_len below the builder\'s minimum is refused by its key', () => {
    const r = dryRun('data.max_seq_len=4');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/key "data\.max_seq_len" expects an integer >= 8/);
    expect(r.stderr).not.toMatch(/--max-seq-len/);
  });
  it('a length every conversation exceeds says which length, without telechat-data\'s flag', () => {
    const r = dryRun('data.max_seq_len=8');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no conversation survived: every input line was skipped or too long for max_seq_len 8 /);
    expect(existsSync(join(work, 'run'))).toBe(false);
  });
});

describe('--output --overwrite never replaces what the build reads', () => {
  it('an output that is or contains an input, the mixing file or the tokenizer dir is refused, and they survive', () => {
    const dir = join(work, 'overlap');
    mkdirSync(join(dir, 'data'), { recursive: true });
    mkdirSync(join(dir, 'mixes'), { recursive: true });
    writeFileSync(join(dir, 'data', 'a.jsonl'), good + '\n');
    writeFileSync(join(dir, 'mixes', 'mix.json'), JSON.stringify({ '../data/a.jsonl': 1 }));
    mkdirSync(join(dir, 'tok'));
    for (const f of ['tokenizer.model', 'tokenizer_config.json']) writeFileSync(join(dir, 'tok', f), readFileSync(join(TOK, f)));
    const cases: Array<[string, string, RegExp]> = [
      ['data/a.jsonl', 'data', /^telechat-data: data: --output contains input data\/a\.jsonl, which the build reads: write the dataset elsewhere$/],
      ['data/a.jsonl', '.', /--output contains input data\/a\.jsonl/],
      ['mixes/mix.json', 'mixes', /--output contains input mixes\/mix\.json/],
      ['mixes/mix.json', 'data', /--output contains input .*data\/a\.jsonl/],
      ['data/a.jsonl', 'tok', /--output is the tokenizer dir tok, which the build reads/],
    ];
    for (const [input, output, message] of cases) {
      const r = cli(['build', '--input', input, '--tokenizer', 'tok', '--template', 'telechat2', '--output', output, '--max-seq-len', '64', '--overwrite'], dir);
      expect(r.code, `${input} -> ${output}`).toBe(1);
      expect(r.stderr.trim(), `${input} -> ${output}`).toMatch(message);
    }
    expect(readFileSync(join(dir, 'data', 'a.jsonl'), 'utf8')).toBe(good + '\n');
    expect(existsSync(join(dir, 'mixes', 'mix.json'))).toBe(true);
    expect(existsSync(join(dir, 'tok', 'tokenizer.model'))).toBe(true);
    // a new dir inside the tokenizer dir or beside the input is fine
    for (const output of ['tok/ds', 'data/ds']) {
      const r = cli(['build', '--input', 'data/a.jsonl', '--tokenizer', 'tok', '--template', 'telechat2', '--output', output, '--max-seq-len', '64', '--overwrite'], dir);
      expect(r.code, r.stderr).toBe(0);
    }
  });
});

describe('telechat v1 lines read a top-level "system" like every other format', () => {
  it('is the system prompt (not an ignored key), and with a <_system> marker too is two prompts', () => {
    const r = build([JSON.stringify({ system: 'Be brief.', input: 'q', output: 'a' })], ['--template', 'telechat']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/note:/);
    const shown = cli(['inspect', r.output, '--row', '0']);
    expect(shown.stdout).toContain('<_system>Be brief.<_user>q<_bot>[[a]][[<_end>]]');
    const two = build([JSON.stringify({ system: 'Be brief.', input: '<_system>Be long.<_user>q', output: 'a' })]);
    expect(two.code).toBe(1);
    expect(two.stderr).toMatch(/in\.jsonl:1: two system prompts/);
  });
});

describe('alpaca lines as LLaMA-Factory reads them', () => {
  it('an empty "instruction" with the prompt in "input" builds (user turn = input), as LLaMA-Factory\'s converter joins the non-empty ones', () => {
    const r = build([JSON.stringify({ instruction: '', input: 'Translate: hello', output: 'bonjour', system: 'S' })]);
    expect(r.code, r.stderr).toBe(0);
    expect(cli(['inspect', r.output, '--row', '0']).stdout).toContain('<_system>S\n<_user>Translate: hello<_bot>[[bonjour]][[<_end>]]');
    const none = build([JSON.stringify({ instruction: '', input: '', output: 'bonjour' })]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/in\.jsonl:1: empty "instruction": /);
  });
});
