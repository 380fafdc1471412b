// The streaming stop-string filter telechat-chat uses for 52B, whose end of turn "<_end>" is
// text: nothing of a stop string is ever shown, text that only looked like its start is
// released, and an incomplete UTF-8 character waits for its last byte.
import { expect, it } from 'vitest';
import { StopFilter } from '../../src/chat/stop.js';

/** Feeds the decoded text growing piece by piece; returns what was shown and the answer. */
function stream(pieces: string[], stops = ['<_end>', '<_user>']): { shown: string[]; text: string; stopped: boolean } {
  const f = new StopFilter(stops);
  const shown: string[] = [];
  let decoded = '';
  for (const p of pieces) {
    decoded += p;
    shown.push(f.update(decoded));
    if (f.stopped) break;
  }
  shown.push(f.flush());
  return { shown, text: f.text, stopped: f.stopped };
}

it('cuts at a stop string split over several tokens, never showing its start', () => {
  const r = stream(['Hello', ' world', '<', '_e', 'nd', '>', 'junk']);
  expect(r.shown).toEqual(['Hello', ' world', '', '', '', '', '']);
  expect(r.text).toBe('Hello world');
  expect(r.stopped).toBe(true);
});

it('releases text that only looked like a stop string', () => {
  const r = stream(['a <', '_x', ' b']);
  expect(r.shown.join('')).toBe('a <_x b');
  expect(r.shown[0]).toBe('a ');
  expect(r.stopped).toBe(false);
});

it('the earliest of several stop strings wins, also within one token', () => {
  expect(stream(['x<_user>y<_end>']).text).toBe('x');
  expect(stream(['ok<_end>\n<_user>']).text).toBe('ok');
});

it('holds an incomplete UTF-8 character (U+FFFD) until it is complete', () => {
  const r = stream(['天', '\uFFFD', ''], []);
  expect(r.shown[0]).toBe('天');
  expect(r.shown[1]).toBe('');
  // the decoder replaces the partial character once its bytes are all there
  const f = new StopFilter([]);
  expect(f.update('天\uFFFD')).toBe('天');
  expect(f.update('天空')).toBe('空');
});

it('without stop strings (TeleChat2, v1: <_end> is a token) text flows through', () => {
  expect(stream(['a', 'b', 'c'], []).shown.join('')).toBe('abc');
});
