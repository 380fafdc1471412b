// telechat-chat through its CLI: --prompt answers with exactly our forward's greedy answer
// (the f32 GGUF, temperature 0) up to the model's <_end>, multi-turn history in the template,
// directories converted once into the cache, and bad input (a truncated or corrupt GGUF, a
// directory that is no model, a GGUF llama.cpp refuses) failing with one line naming the file
// (and the cause), exit 1, no crash; interactive mode answering every piped line in turn.
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatSession, defaultThreads, loadFailureCause } from '../../src/chat/session.js';
import { exportGgufCli } from '../../src/gguf/cli.js';
import { trainedModel, type TrainedModel } from '../helpers/gguf_fixture.js';
import { ourAnswer } from '../helpers/chat_ref.js';
import { makeTmpDir } from '../helpers/tmp.js';

const CHAT = resolve('dist/cli/chat.js');
const tmp = makeTmpDir('chat-cli');
afterAll(() => tmp.cleanup());
const home = join(tmp.dir, 'home');
const QUESTIONS = ['为什么天空是蓝色的？', 'What is the sky?', 'hello'];
const MAX = 24;

let model: TrainedModel;
let gguf: string;

function chat(args: string[], input?: string) {
  const res = spawnSync(process.execPath, [CHAT, ...args, '--threads', '1'], { encoding: 'utf8', env: { ...process.env, HOME: home }, timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  return { status: res.status, signal: res.signal, stdout: res.stdout, stderr: res.stderr };
}

beforeAll(async () => {
  model = await trainedModel(tmp.dir, 'telechat2', 29760);
  gguf = join(tmp.dir, 'model.gguf');
  exportGgufCli({ model: model.hf, output: gguf, dtype: 'fp32', overwrite: false });
}, 300_000);

describe('llama.cpp threads without --threads', () => {
  it('are OMP_NUM_THREADS when set (as the trainer), else the CPUs the process may use', () => {
    expect(defaultThreads({ OMP_NUM_THREADS: '1' }, 16)).toBe(1);
    expect(defaultThreads({}, 16)).toBe(16);
    expect(defaultThreads({ OMP_NUM_THREADS: 'two' }, 4)).toBe(4);
    expect(defaultThreads({ OMP_NUM_THREADS: '1.5' }, 4)).toBe(4);
  });
});

describe('telechat-chat --prompt', () => {
  it.each(QUESTIONS)('answers %j with our greedy answer, ending at <_end> or --max-tokens', (q) => {
    const r = chat([gguf, '--prompt', q, '--temperature', '0', '--max-tokens', String(MAX)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    console.log(`${JSON.stringify(q)} -> ${JSON.stringify(r.stdout)}`);
    expect(r.stdout).toBe(ourAnswer(model.hf, [], q) + '\n');
    expect(r.stdout).not.toContain('<_end>');
  });

  it('a system prompt goes through the template', () => {
    const system = 'You are a poet who answers in English.';
    const r = chat([gguf, '--prompt', QUESTIONS[0]!, '--system', system, '--temperature', '0', '--max-tokens', String(MAX)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(ourAnswer(model.hf, [], QUESTIONS[0]!, system) + '\n');
    expect(r.stdout).not.toBe(ourAnswer(model.hf, [], QUESTIONS[0]!) + '\n');
  });

  it('an output dir is converted once to a cached GGUF, then reused', () => {
    const first = chat([model.out, '--prompt', 'hello', '--temperature', '0', '--max-tokens', '4']);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/converting .*final to .*\.cache\/telechat-train\/gguf\/[0-9a-f]{12}-[0-9a-f]{24}\.gguf/);
    const cache = join(home, '.cache/telechat-train/gguf');
    const files = readdirSync(cache);
    expect(files).toHaveLength(1);
    const second = chat([model.out, '--prompt', 'hello', '--temperature', '0', '--max-tokens', '4']);
    expect(second.status).toBe(0);
    expect(second.stderr).toBe('');
    expect(second.stdout).toBe(first.stdout);
    expect(readdirSync(cache)).toEqual(files);
    // the model changed in place (a newer modification time): converted again, the old file deleted
    const later = new Date(statSync(join(model.out, 'final', 'config.json')).mtimeMs + 60_000);
    utimesSync(join(model.out, 'final', 'config.json'), later, later);
    const third = chat([model.out, '--prompt', 'hello', '--temperature', '0', '--max-tokens', '4']);
    expect(third.status).toBe(0);
    expect(third.stderr).toContain(`deleted ${join(cache, files[0]!)} (an older conversion of `);
    expect(third.stdout).toBe(first.stdout);
    const now = readdirSync(cache);
    expect(now).toHaveLength(1);
    expect(now).not.toEqual(files);
  });
});

describe('interactive chat with piped input', () => {
  // every line is answered in turn, also those that arrive while an answer is generated (the
  // question this model answers at length, asked again with the first turn in the history, then
  // after /reset as the first time)
  const q1 = QUESTIONS[0]!, q2 = q1, q3 = q1;
  const header = (): string => `telechat-chat: ${gguf} (telechat2 chat format). /reset forgets the conversation, /exit or Ctrl-D quits.\n`;
  const transcript = (): string => {
    const a1 = ourAnswer(model.hf, [], q1, undefined, MAX);
    const a2 = ourAnswer(model.hf, [{ user: q1, bot: a1 }], q2, undefined, MAX);
    const a3 = ourAnswer(model.hf, [], q3, undefined, MAX);
    expect([a1, a2, a3].every((a) => a.length > 0)).toBe(true);
    return `> ${a1}\n> ${a2}\n> (conversation cleared)\n> ${a3}\n> `;
  };

  it('questions, /reset and /exit in one write: each answered in order with the history, exit 0', () => {
    const r = chat([gguf, '--temperature', '0', '--max-tokens', String(MAX)], `${q1}\n${q2}\n/reset\n${q3}\n/exit\nnever asked\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(header() + transcript());
  });

  it('end of input after the last line: the queued lines are answered first', () => {
    const r = chat([gguf, '--temperature', '0', '--max-tokens', String(MAX)], `${q1}\n${q2}\n/reset\n${q3}\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(header() + transcript());
  });
});

describe('the model\'s context bounds the answer (here 128 tokens, below the default --max-tokens 512)', () => {
  it('--prompt with the default --max-tokens answers (the answer stops where the context is full)', () => {
    const short = chat([gguf, '--prompt', 'hello', '--temperature', '0', '--max-tokens', String(MAX)]);
    const r = chat([gguf, '--prompt', 'hello', '--temperature', '0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith(short.stdout.trimEnd())).toBe(true);
  });

  it('an answer gets min(--max-tokens, context - prompt) tokens; a prompt that fills the context is one sensible error', async () => {
    const session = await ChatSession.open(gguf, { maxTokens: 512, temperature: 0, threads: 1, cpu: true });
    try {
      const ctx = session.contextSize;
      expect(ctx).toBe(128);
      const question = (word: string, n: number): string => `${word} `.repeat(n).trim();
      const promptLen = async (word: string, n: number): Promise<number> => {
        session.reset();
        await session.ask(question(word, n), () => {});
        return session.lastAnswer!.promptTokens;
      };
      // the question (n copies of word) whose prompt leaves exactly 2 tokens of the context, or null
      const leavingTwo = async (word: string): Promise<number | null> => {
        let n = 10;
        for (let i = 0; i < 20; i++) {
          const len = await promptLen(word, n);
          if (len === ctx - 2) return n;
          const [a, b] = [len, await promptLen(word, n + 1)];
          n = Math.max(1, n + Math.round((ctx - 2 - a) / Math.max(1, b - a)));
        }
        return null;
      };
      // The answer to such a question stops at the context after 2 tokens, unless the model ends it
      // first: which one a given question gets depends on the trained weights, so several words are
      // tried and one must run into the context; none may go past it.
      let filled: { word: string; n: number } | null = null;
      for (const word of ['sky', 'blue', 'tree', 'water', 'hello', 'the', 'river', 'song']) {
        const n = await leavingTwo(word);
        if (n === null) continue;
        session.reset();
        let text = '';
        await session.ask(question(word, n), (t) => (text += t));
        const answer = session.lastAnswer!;
        expect(answer.promptTokens, word).toBe(ctx - 2);
        expect(answer.answerTokens, word).toBeLessThanOrEqual(2);
        if (answer.end === 'end') continue;
        expect(answer, word).toEqual({ promptTokens: ctx - 2, answerTokens: 2, end: 'context' });
        expect(text.length).toBeGreaterThan(0);
        filled = { word, n };
        break;
      }
      expect(filled, 'a question whose answer runs into the context').not.toBeNull();
      // no room for one answer token: an error that says so, the conversation unchanged
      session.reset();
      await expect(session.ask(question(filled!.word, filled!.n + 40), () => {})).rejects.toThrow(/^the question takes \d+ tokens with the chat template, which leaves no room for an answer in the model's 128-token context: shorten it$/);
    } finally {
      await session.close();
    }
    // --max-tokens beyond the context keeps the history while the answer has half the context
    const long = await ChatSession.open(gguf, { maxTokens: 512, temperature: 0, threads: 1, cpu: true });
    try {
      await long.ask('hi', () => {});
      const first = long.lastAnswer!;
      await long.ask('hi', () => {});
      const second = long.lastAnswer!;
      // the first turn stays unless with it (its prompt and answer, the second question and
      // template tokens, counted generously as the first prompt again) the answer would get less
      // than half the context; before, every turn was dropped under a --max-tokens past the context
      const fits = 2 * first.promptTokens + first.answerTokens + 4 <= long.contextSize / 2;
      expect({ kept: second.promptTokens > first.promptTokens, fits }).toEqual({ kept: true, fits: true });
      expect(long.contextSize - second.promptTokens).toBeGreaterThanOrEqual(long.contextSize / 2);
    } finally {
      await long.close();
    }
    // a refused question leaves the conversation as it was (short answers, so the history fits)
    const short = await ChatSession.open(gguf, { maxTokens: 4, temperature: 0, threads: 1, cpu: true });
    try {
      await short.ask('hi', () => {});
      const alone = short.lastAnswer!.promptTokens;
      await expect(short.ask('sky '.repeat(200), () => {})).rejects.toThrow(/leaves no room for an answer/);
      await short.ask('hi', () => {});
      expect(short.lastAnswer!.promptTokens).toBeGreaterThan(alone); // the first turn is still there
    } finally {
      await short.close();
    }
  });

  it('in an interactive chat a question too long for the context is refused alone: the next line is answered, exit 1', () => {
    const r = chat([gguf, '--temperature', '0', '--max-tokens', String(MAX)], `${QUESTIONS[0]!}\n${'sky '.repeat(200)}\n${QUESTIONS[0]!}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^telechat-chat: the question takes \d+ tokens with the chat template, which leaves no room for an answer in the model's 128-token context: shorten it\n$/);
    const a1 = ourAnswer(model.hf, [], QUESTIONS[0]!, undefined, MAX);
    const a2 = ourAnswer(model.hf, [{ user: QUESTIONS[0]!, bot: a1 }], QUESTIONS[0]!, undefined, MAX);
    expect(r.stdout.endsWith(`> ${a1}\n> > ${a2}\n> `)).toBe(true);
  });

  it('through the CLI: a question too long for the context is one line, exit 1', () => {
    const r = chat([gguf, '--prompt', 'sky '.repeat(200), '--temperature', '0']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^telechat-chat: the question takes \d+ tokens with the chat template, which leaves no room for an answer in the model's 128-token context: shorten it\n$/);
  });
});

describe('telechat-chat bad input', () => {
  const fails = (r: ReturnType<typeof chat>, file: string, pattern: RegExp): void => {
    expect(r.signal).toBeNull(); // no crash
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(pattern);
  };

  it('a truncated GGUF: one error naming the file', () => {
    const bad = join(tmp.dir, 'truncated.gguf');
    copyFileSync(gguf, bad);
    truncateSync(bad, statSync(gguf).size - 1000);
    fails(chat([bad, '--prompt', 'hi']), bad, /truncated GGUF \(tensor output\.weight ends at byte \d+, the file has \d+\)/);
    const header = join(tmp.dir, 'header.gguf');
    copyFileSync(gguf, header);
    truncateSync(header, 5000); // inside the vocabulary
    fails(chat([header, '--prompt', 'hi']), header, /truncated GGUF/);
  });

  it('a corrupt GGUF (bad magic, absurd string length): one error naming the file', () => {
    const magic = join(tmp.dir, 'magic.gguf');
    writeFileSync(magic, Buffer.concat([Buffer.from('GGUX'), readFileSync(gguf).subarray(4, 4096)]));
    fails(chat([magic, '--prompt', 'hi']), magic, /not a GGUF file/);
    const corrupt = join(tmp.dir, 'corrupt.gguf');
    copyFileSync(gguf, corrupt);
    const fd = openSync(corrupt, 'r+');
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(1n << 40n);
    writeSync(fd, huge, 0, 8, 24); // the first key's length
    closeSync(fd);
    fails(chat([corrupt, '--prompt', 'hi']), corrupt, /corrupt GGUF|truncated GGUF/);
  });

  it('a GGUF llama.cpp cannot load (an architecture it does not know): one error with the cause, no llama.cpp log lines', () => {
    const bytes = readFileSync(gguf);
    const key = bytes.indexOf('general.architecture');
    const value = key + 'general.architecture'.length + 4 + 8; // after the key: type (string), length
    expect(bytes.subarray(value, value + 5).toString()).toBe('llama');
    bytes.write('llamx', value);
    const unknown = join(tmp.dir, 'unknown-arch.gguf');
    writeFileSync(unknown, bytes);
    const r = chat([unknown, '--prompt', 'hi']);
    fails(r, unknown, /: llama\.cpp cannot load it: unknown model architecture: 'llamx'$/m);
    expect(r.stderr).toBe(`telechat-chat: ${unknown}: llama.cpp cannot load it: unknown model architecture: 'llamx'\n`);
  });

  it('a zero model size in the metadata (which llama.cpp would abort on) and an unknown chat format: one error each', () => {
    // a u32 value right after its key: [u64 key length][key][u32 type][value]
    const withU32 = (key: string, value: number, name: string): string => {
      const bytes = readFileSync(gguf);
      const at = bytes.indexOf(`${key}\u0004`) + key.length; // the key, not a longer one it begins
      expect(bytes.readUInt32LE(at)).toBe(4); // GGUF type u32
      bytes.writeUInt32LE(value, at + 4);
      const path = join(tmp.dir, name);
      writeFileSync(path, bytes);
      return path;
    };
    const heads = withU32('llama.attention.head_count', 0, 'heads0.gguf');
    fails(chat([heads, '--prompt', 'hi']), heads, /: corrupt GGUF metadata: llama\.attention\.head_count is 0, not a positive whole number$/m);
    const bytes = readFileSync(gguf);
    const key = bytes.indexOf('telechat.chat_format');
    const value = key + 'telechat.chat_format'.length + 4 + 8;
    expect(bytes.subarray(value, value + 9).toString()).toBe('telechat2');
    bytes.write('telechat9', value);
    const format = join(tmp.dir, 'format.gguf');
    writeFileSync(format, bytes);
    fails(chat([format, '--prompt', 'hi']), format, /: telechat\.chat_format "telechat9" is not one of /);
  });

  it("the cause is llama.cpp's \"error loading model\" line, else its last line beside node-llama-cpp's error", () => {
    const err = new Error('Failed to load model');
    const log = ["llama_model_load: error loading model: unknown model architecture: 'x'", 'llama_model_load_from_file_impl: failed to load model'];
    expect(loadFailureCause([...log, ...log], err)).toBe("unknown model architecture: 'x'");
    expect(loadFailureCause(['llama_init_from_model: failed to initialize the context'], err)).toBe('Failed to load model (llama_init_from_model: failed to initialize the context)');
    expect(loadFailureCause([], err)).toBe('Failed to load model');
  });

  it('a directory that is no model, and a missing path', () => {
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    fails(chat([empty, '--prompt', 'hi']), empty, /neither a \.gguf file, an HF model dir/);
    fails(chat([join(tmp.dir, 'nope.gguf'), '--prompt', 'hi']), 'nope.gguf', /no such file or directory/);
  });
});
