// The telechat-data command line, end to end (node dist/cli/data.js): every kind of bad input
// is one `FILE:LINE: reason: <first 80 chars>` message, a non-zero exit and no output dir;
// with --skip-bad the same lines are skipped and counted per reason in the manifest.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(join(tmpdir(), 'cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync('node', ['dist/cli/data.js', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = [
  JSON.stringify({ dialog: [{ role: 'user', content: '你好' }, { role: 'bot', content: '你好！' }] }),
  JSON.stringify({ system: 'Be brief.', dialog: [{ role: 'user', content: 'Hi' }, { role: 'bot', content: 'Hello.' }] }),
];
const filler = 'x'.repeat(100); // makes every bad line longer than 80 characters

const CASES: { reason: string; line: string | Buffer; message: RegExp }[] = [
  { reason: 'malformed-json', line: `{"dialog": [{"role": "user", "content": "${filler}"},`, message: /malformed JSON/ },
  {
    reason: 'unknown-role',
    line: JSON.stringify({ dialog: [{ role: 'user', content: filler }, { role: 'assistant', content: 'a' }] }),
    message: /unknown role "assistant" in dialog\[1\]/,
  },
  {
    reason: 'empty-content',
    line: JSON.stringify({ dialog: [{ role: 'user', content: filler }, { role: 'bot', content: '  ' }] }),
    message: /empty content in message 1 \(bot\)/,
  },
  {
    reason: 'two-user-turns',
    line: JSON.stringify({ dialog: [{ role: 'user', content: filler }, { role: 'user', content: 'q' }, { role: 'bot', content: 'a' }] }),
    message: /two user turns in a row/,
  },
  {
    reason: 'no-final-bot-turn',
    line: JSON.stringify({ dialog: [{ role: 'user', content: filler }, { role: 'bot', content: 'a' }, { role: 'user', content: 'q' }] }),
    message: /does not end with a bot turn/,
  },
  {
    reason: 'missing-field',
    line: JSON.stringify({ dialog: [{ role: 'user', text: filler }, { role: 'bot', content: 'a' }] }),
    message: /missing field "content" in dialog\[0\]/,
  },
  {
    reason: 'non-utf8',
    line: Buffer.concat([Buffer.from(`{"dialog": [{"role": "user", "content": "${filler}`), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]),
    message: /not valid UTF-8/,
  },
  { reason: 'unknown-format', line: JSON.stringify({ prompt: filler, completion: 'a' }), message: /unknown format/ },
  {
    reason: 'starts-with-bot',
    line: JSON.stringify({ messages: [{ role: 'assistant', content: filler }, { role: 'user', content: 'q' }] }),
    message: /bot turn before any user turn/,
  },
  {
    reason: 'ambiguous-format',
    line: JSON.stringify({
      messages: [{ role: 'user', content: filler }, { role: 'assistant', content: 'a' }],
      conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }],
    }),
    message: /ambiguous line: it has both "messages" \(messages\) and "conversations" \(sharegpt\)/,
  },
  {
    reason: 'unsupported',
    line: JSON.stringify({ conversations: [{ from: 'human', value: filler }, { from: 'gpt', value: 'a' }], tools: '[{"name": "f"}]' }),
    message: /field "tools" lists tools, but the sharegpt format has no tool template/,
  },
  {
    reason: 'bad-weight',
    line: JSON.stringify({ messages: [{ role: 'user', content: filler }, { role: 'assistant', content: 'a', weight: 2 }] }),
    message: /"weight" in messages\[1\] must be 0 or 1, got 2/,
  },
  {
    reason: 'no-loss',
    line: JSON.stringify({ messages: [{ role: 'user', content: filler }, { role: 'assistant', content: 'a', weight: 0 }] }),
    message: /every assistant message has weight 0/,
  },
];

function writeInput(name: string, bad: string | Buffer): string {
  const file = join(work, name);
  writeFileSync(file, Buffer.concat([Buffer.from(GOOD.join('\n') + '\n'), Buffer.from(bad), Buffer.from('\n' + GOOD[0] + '\n')]));
  return file;
}

const BUILD = ['build', '--tokenizer', 'data/tokenizer', '--template', 'telechat2', '--max-seq-len', '128'];

describe('telechat-data build: bad input', () => {
  for (const c of CASES) {
    it(`${c.reason}: FILE:LINE: reason, first 80 characters, exit 1, no output dir`, () => {
      const file = writeInput(`${c.reason}.jsonl`, c.line);
      const out = join(work, `out-${c.reason}`);
      const r = cli([...BUILD, '--input', file, '--output', out]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines.length).toBe(1); // one message, no stack trace
      expect(lines[0]).toMatch(new RegExp(`^telechat-data: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: `));
      expect(lines[0]).toMatch(c.message);
      // It quotes the line's first 80 characters and marks the cut.
      const quoted = new TextDecoder().decode(Buffer.from(c.line)).slice(0, 80);
      expect(lines[0]!.endsWith(`: ${quoted}…`)).toBe(true);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('--skip-bad skips every bad line and counts it per reason', () => {
    const file = join(work, 'all-bad.jsonl');
    writeFileSync(file, Buffer.concat([Buffer.from(GOOD.join('\n') + '\n'), ...CASES.map((c) => Buffer.concat([Buffer.from(c.line), Buffer.from('\n')]))]));
    const out = join(work, 'out-skip');
    const r = cli([...BUILD, '--input', file, '--output', out, '--skip-bad']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const s = m.sources[file];
    expect(s.lines).toBe(GOOD.length + CASES.length);
    expect(s.kept).toBe(GOOD.length);
    expect(s.skipped).toEqual(Object.fromEntries(CASES.map((c) => [c.reason, 1])));
    expect(r.stdout).toMatch(/skipped .*two-user-turns 1/);
  });
});

describe('telechat-data build: keys a format does not read', () => {
  it('build, and each key is counted per source in the manifest and named in the summary', () => {
    const file = join(work, 'extra-keys.jsonl');
    const lines = GOOD.map((l, i) => JSON.stringify({ ...JSON.parse(l), ...(i % 2 === 0 ? { category: 'chat' } : {}), id: i }));
    writeFileSync(file, lines.join('\n') + '\n');
    const out = join(work, 'out-extra-keys');
    const r = cli([...BUILD, '--input', file, '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(m.sources[file].kept).toBe(GOOD.length);
    // "id" is metadata: not reported
    expect(m.sources[file].ignored_keys).toEqual({ category: Math.ceil(GOOD.length / 2) });
    expect(r.stdout).toContain(`note: source ${file}: key "category" on ${Math.ceil(GOOD.length / 2)} line(s) is not read by its format (not training input)`);
  });
});

describe('telechat-data build: tool calls and empty fields are named', () => {
  const one = (name: string, line: unknown) => {
    const file = writeInput(name, JSON.stringify(line));
    const out = join(work, `out-${name}`);
    const r = cli([...BUILD, '--input', file, '--output', out]);
    expect(existsSync(out)).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    return r.stderr;
  };

  it('an OpenAI tool call (null content) and a tool message: unsupported, the field named, FILE:LINE', () => {
    const call = [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }];
    const line = {
      messages: [
        { role: 'user', content: filler }, { role: 'assistant', content: null, tool_calls: call },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' }, { role: 'assistant', content: 'Sunny.' },
      ],
    };
    expect(one('tool-calls.jsonl', line)).toMatch(/^telechat-data: \S*tool-calls\.jsonl:3: field "tool_calls" in messages\[1\] holds a tool call, but there is no tool template here/);
    const noCall = { messages: [line.messages[0], { role: 'assistant', content: 'calling', tool_calls: [] }, line.messages[2], line.messages[3]] };
    expect(one('tool-role.jsonl', noCall)).toMatch(/^telechat-data: \S*tool-role\.jsonl:3: role "tool" in messages\[2\] is a tool result, but there is no tool template here/);
  });

  it('an empty alpaca "output" and an empty telechat v1 "input" are named', () => {
    expect(one('alpaca-empty.jsonl', { instruction: filler, input: '', output: '' })).toMatch(/alpaca-empty\.jsonl:3: empty "output": /);
    expect(one('v1-empty.jsonl', { input: '', output: filler })).toMatch(/v1-empty\.jsonl:3: empty "input": /);
  });
});

describe('telechat-data build: mixing-file paths', () => {
  it('resolves entries relative to the mixing file first, then the working directory (TeleChat2 sft_data_config.json), and says so', () => {
    // TeleChat2's layout: deepspeed/dummy_data/sft_data_config.json lists "./dummy_data/sft/x.jsonl", run from deepspeed/
    const root = join(work, 'deepspeed');
    mkdirSync(join(root, 'dummy_data', 'sft'), { recursive: true });
    writeFileSync(join(root, 'dummy_data', 'sft', 'demo_tool.jsonl'), GOOD.join('\n') + '\n');
    // present both beside the mixing file and from the cwd: the mixing file's wins
    writeFileSync(join(root, 'both.jsonl'), GOOD[0] + '\n');
    writeFileSync(join(root, 'dummy_data', 'both.jsonl'), GOOD.join('\n') + '\n' + GOOD.join('\n') + '\n');
    const mix = join(root, 'dummy_data', 'sft_data_config.json');
    writeFileSync(mix, JSON.stringify({ './dummy_data/sft/demo_tool.jsonl': 2.0, 'both.jsonl': 1 }));
    const out = join(work, 'out-mix-cwd');
    const run = (input: string) =>
      spawnSync('node', [join(process.cwd(), 'dist/cli/data.js'), 'build', '--tokenizer', join(process.cwd(), 'data/tokenizer'), '--template', 'telechat2', '--max-seq-len', '128', '--output', out, '--overwrite', '--input', input], { encoding: 'utf8', cwd: root });
    const r = run('dummy_data/sft_data_config.json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(m.sources['./dummy_data/sft/demo_tool.jsonl']).toMatchObject({ path: join(root, 'dummy_data', 'sft', 'demo_tool.jsonl'), relative_to: 'cwd', lines: GOOD.length, conversations: 2 * GOOD.length });
    expect(m.sources['both.jsonl'].path).toBe(join(root, 'dummy_data', 'both.jsonl'));
    expect(m.sources['both.jsonl'].lines).toBe(2 * GOOD.length);
    expect(m.sources['both.jsonl'].relative_to).toBeUndefined();
    expect(r.stdout).toContain(`note: source ./dummy_data/sft/demo_tool.jsonl: not found relative to the mixing file; read relative to the working directory: ${join(root, 'dummy_data', 'sft', 'demo_tool.jsonl')}`);
    expect(r.stdout).not.toMatch(/note: source both\.jsonl/);
    // found in neither place: both tried, named
    writeFileSync(mix, JSON.stringify({ './dummy_data/sft/nope.jsonl': 1 }));
    const bad = run('dummy_data/sft_data_config.json');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(
      'telechat-data: dummy_data/sft_data_config.json: key "./dummy_data/sft/nope.jsonl": input file not found: neither dummy_data/dummy_data/sft/nope.jsonl ' +
        '(relative to the mixing file) nor dummy_data/sft/nope.jsonl (relative to the working directory) exists\n',
    );
  });
});

describe('telechat-data build: stopped or killed', () => {
  it('Ctrl-C mid-build removes the partial dataset (exit 130); a killed build\'s temporary is deleted by the next build', async () => {
    const sample = readFileSync('data/sample-conversations.jsonl', 'utf8');
    const big = join(work, 'big.jsonl');
    writeFileSync(big, sample.repeat(60)); // ~21,600 conversations: seconds of building
    const out = join(work, 'stopped');
    const child = spawn('node', ['dist/cli/data.js', 'build', '--input', big, '--model', 'data/tiny-model', '--output', out, '--max-seq-len', '512'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // wait until the build has started writing its temporary, then interrupt it
    const temporary = () => readdirSync(work).filter((n) => n.startsWith('.stopped.tmp-'));
    const t0 = Date.now();
    while (temporary().length === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    expect(temporary().length).toBe(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('telechat-data: stopped by SIGINT; the partial dataset is removed, nothing was written');
    expect(temporary()).toEqual([]);
    expect(existsSync(out)).toBe(false);

    // a temporary left by a build killed outright (a process that no longer exists, on this host)
    const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_');
    const left = join(work, `.swept.tmp-${host}-${dead}`);
    mkdirSync(left);
    writeFileSync(join(left, 'shard-00000.arrow'), 'partial');
    writeFileSync(join(work, 'small.jsonl'), GOOD.join('\n') + '\n');
    const r = cli(['build', '--input', join(work, 'small.jsonl'), '--model', 'data/tiny-model', '--output', join(work, 'swept'), '--max-seq-len', '64']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`telechat-data: deleted ${left} (left by a build that was killed)`);
    expect(existsSync(left)).toBe(false);
    expect(existsSync(join(work, 'swept', 'manifest.json'))).toBe(true);
  }, 120_000);
});

describe('telechat-data: usage errors and inspect', () => {
  it('names a missing input file, a bad mixing weight and a missing tokenizer', () => {
    const out = join(work, 'never');
    let r = cli([...BUILD, '--input', join(work, 'nope.jsonl'), '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.jsonl does not exist/);
    const mix = join(work, 'mix.json');
    writeFileSync(mix, JSON.stringify({ 'a.jsonl': -1 }));
    r = cli([...BUILD, '--input', mix, '--output', out]);
    expect(r.stderr).toMatch(/mix\.json: key "a\.jsonl": weight must be a positive number, got -1/);
    r = cli(['build', '--input', 'data/sample-conversations.jsonl', '--tokenizer', work, '--template', 'telechat2', '--max-seq-len', '64', '--output', out]);
    expect(r.stderr).toMatch(/no tokenizer\.model or tokenizer\.json/);
    r = cli(['build', '--input', 'data/sample-conversations.jsonl', '--tokenizer', 'data/tokenizer', '--max-seq-len', '64', '--output', out]);
    expect(r.stderr).toMatch(/cannot tell the chat template.*--template/);
    expect(existsSync(out)).toBe(false);
  });

  it('says what is wrong with --output, --model / --tokenizer and a mixing file in one sentence', () => {
    const input = join(work, 'in.jsonl');
    writeFileSync(input, GOOD.join('\n') + '\n');
    const afile = join(work, 'afile');
    writeFileSync(afile, '');
    let r = cli([...BUILD, '--input', input, '--output', afile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`telechat-data: ${afile}: --output exists and is not a directory (give a directory path)\n`);
    r = cli([...BUILD, '--input', input, '--output', join(afile, 'sub')]);
    expect(r.stderr).toBe(`telechat-data: ${join(afile, 'sub')}: cannot create the output directory: ${afile} is a file, not a directory\n`);
    // a symbolic link to nothing (the dir it names was removed): named, not mkdir's ENOTDIR
    const dangling = join(work, 'dangling');
    symlinkSync(join(work, 'removed-run'), dangling);
    r = cli([...BUILD, '--input', input, '--output', dangling]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`telechat-data: ${dangling}: cannot create the output directory: ${dangling} is a symbolic link to ${join(work, 'removed-run')}, which does not exist\n`);
    const out = join(work, 'never2');
    r = cli(['build', '--input', input, '--model', join(work, 'nonexist'), '--output', out, '--max-seq-len', '64']);
    expect(r.stderr).toBe(`telechat-data: ${join(work, 'nonexist')}: model directory does not exist\n`);
    r = cli(['build', '--input', input, '--tokenizer', join(work, 'nonexist'), '--template', 'telechat2', '--output', out, '--max-seq-len', '64']);
    expect(r.stderr).toBe(`telechat-data: ${join(work, 'nonexist')}: tokenizer directory does not exist\n`);
    r = cli(['build', '--input', input, '--model', 'data/tiny-model', '--tokenizer', 'data/tiny-model', '--output', out, '--max-seq-len', '64']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^telechat-data: give one of --model DIR or --tokenizer DIR, not both/);
    // a mixing file's source is reported as a path the user can open from the cwd, not relative to the mixing file
    mkdirSync(join(work, 'mixdir', 'sub'), { recursive: true });
    writeFileSync(join(work, 'mixdir', 'sub', 'onlyhere.jsonl'), [...GOOD, '{"dialog": []}'].join('\n') + '\n');
    writeFileSync(join(work, 'mixdir', 'mix.json'), '{"sub/onlyhere.jsonl": 1}');
    writeFileSync(join(work, 'mixdir', 'bad.json'), '{\n  "sub/onlyhere.jsonl": 1,\n}\n');
    const inWork = (args: string[]) =>
      spawnSync('node', [join(process.cwd(), 'dist/cli/data.js'), 'build', '--tokenizer', join(process.cwd(), 'data/tokenizer'), '--template', 'telechat2', '--max-seq-len', '128', '--output', out, ...args], { encoding: 'utf8', cwd: work });
    expect(inWork(['--input', 'mixdir/mix.json']).stderr).toMatch(/^telechat-data: mixdir\/sub\/onlyhere\.jsonl:3: the conversation has no messages/);
    // a JSON syntax error in a mixing file: FILE:LINE:COL, no character position
    const bad = inWork(['--input', 'mixdir/bad.json']).stderr;
    expect(bad).toMatch(/^telechat-data: mixdir\/bad\.json:3:1: the mixing file is not valid JSON \(/);
    expect(bad).not.toMatch(/position/);
    expect(existsSync(out)).toBe(false);
  });

  it('inspect prints the stats and renders a row with the loss tokens marked', () => {
    const out = join(work, 'ok');
    const file = join(work, 'ok.jsonl');
    writeFileSync(file, GOOD.join('\n') + '\n');
    expect(cli([...BUILD, '--input', file, '--output', out, '--no-pack']).code).toBe(0);
    const r = cli(['inspect', out, '--row', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rows 2, documents 2/);
    expect(r.stdout).toContain('<_system>Be brief.\n<_user>Hi<_bot>[[Hello.]][[<_end>]]');
    expect(cli(['inspect', out, '--row', '5']).stderr).toMatch(/row 5 out of range \(dataset has 2 rows\)/);
    expect(cli(['inspect', work]).stderr).toMatch(/not a dataset directory/);
  });

  it('--help shows examples', () => {
    const r = cli(['build', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
  });
});
