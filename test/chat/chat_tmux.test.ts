// telechat-chat's interactive mode driven in a real terminal (tmux): type a question, read
// the answer off the screen, ask a follow-up (answered with the first turn in its history),
// then /exit, and the process ends cleanly with status 0. Answers are checked against our own
// greedy decoding of the same conversation (test/helpers/chat_ref.ts).
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportGgufCli } from '../../src/gguf/cli.js';
import { ourAnswer } from '../helpers/chat_ref.js';
import { trainedModel, type TrainedModel } from '../helpers/gguf_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const CHAT = resolve('dist/cli/chat.js');
const tmp = makeTmpDir('chat-tmux');
const session = `telechat-chat-test-${process.pid}`;
let model: TrainedModel;
let gguf: string;

const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (target = session): string => tmux('capture-pane', '-p', '-J', '-t', target);

async function waitFor(what: string, ok: (s: string) => boolean, ms = 60_000, target = session): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen(target);
    if (ok(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the screen shows:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  model = await trainedModel(tmp.dir, 'telechat2', 29770);
  gguf = join(tmp.dir, 'model.gguf');
  exportGgufCli({ model: model.hf, output: gguf, dtype: 'fp32', overwrite: false });
}, 300_000);

afterAll(() => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone
  }
  tmp.cleanup();
});

it('type a question, read the answer, ask a follow-up, quit cleanly', async () => {
  const cmd = `'${process.execPath}' '${CHAT}' '${gguf}' --temperature 0 --max-tokens 12 --threads 1; echo "EXIT STATUS $?"; sleep 60`;
  tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', cmd);
  await waitFor('the first prompt', (s) => /^> $/m.test(s));
  const q1 = '为什么天空是蓝色的？';
  const q2 = 'What is the sky?';
  const a1 = ourAnswer(model.hf, [], q1, undefined, 12);
  const a2 = ourAnswer(model.hf, [{ user: q1, bot: a1 }], q2, undefined, 12);
  tmux('send-keys', '-t', session, '-l', q1);
  tmux('send-keys', '-t', session, 'Enter');
  await waitFor('the first answer', (s) => s.includes(`> ${q1}\n${a1}\n> `));
  tmux('send-keys', '-t', session, '-l', q2);
  tmux('send-keys', '-t', session, 'Enter');
  await waitFor('the follow-up answer', (s) => s.includes(`> ${q2}\n${a2}\n> `));
  tmux('send-keys', '-t', session, '-l', '/exit');
  tmux('send-keys', '-t', session, 'Enter');
  const end = await waitFor('the exit', (s) => s.includes('EXIT STATUS'));
  expect(end).toContain('EXIT STATUS 0');
  expect(end).not.toMatch(/Error|at .*\.js:\d+/);
  console.log(end.trim());
});

it('Ctrl-C at the prompt quits cleanly, status 0', async () => {
  const name = `${session}-c`;
  const cmd = `'${process.execPath}' '${CHAT}' '${gguf}' --temperature 0 --max-tokens 12 --threads 1; echo "EXIT STATUS $?"; sleep 60`;
  tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '50', cmd);
  try {
    await waitFor('the first prompt', (s) => /^> $/m.test(s), 60_000, name);
    tmux('send-keys', '-t', name, 'C-c');
    const end = await waitFor('the exit', (s) => s.includes('EXIT STATUS'), 60_000, name);
    expect(end).toContain('EXIT STATUS 0');
  } finally {
    tmux('kill-session', '-t', name);
  }
});
