// Per-line parsing: format detection, each format's field names and roles, and the
// conversation rules (system first, user/bot alternating, ending with bot, no empty content).
import { describe, expect, it } from 'vitest';

import { BadLine, parseConversation } from '../../src/data/formats.js';
import { chooseTemplate } from '../../src/data/builder.js';
import { templateFromConfig } from '../../src/data/templates.js';

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof BadLine) return e.reason;
    throw e;
  }
  return 'no error';
}

describe('input formats', () => {
  it('reads TeleChat v1 input/output with markers, <_end> inside input, or a bare question', () => {
    expect(parseConversation({ input: '<_user>q1<_bot>a1<_end><_user>q2', output: 'a2' }, 'auto')).toEqual({
      turns: [{ user: 'q1', bot: 'a1' }, { user: 'q2', bot: 'a2' }],
    });
    expect(parseConversation({ input: 'just a question', output: 'answer' }, 'auto')).toEqual({
      turns: [{ user: 'just a question', bot: 'answer' }],
    });
    expect(parseConversation({ input: '<_system>S<_user>q', output: 'a' }, 'telechat')).toEqual({
      system: 'S',
      turns: [{ user: 'q', bot: 'a' }],
    });
    expect(reason(() => parseConversation({ input: 'x<_user>q', output: 'a' }, 'auto'))).toBe('bad-type');
    expect(reason(() => parseConversation({ input: '<_user>q' }, 'auto'))).toBe('missing-field');
    expect(reason(() => parseConversation({ input: '<_user>q1<_user>q2', output: 'a' }, 'auto'))).toBe('two-user-turns');
  });

  it('treats an empty system string as no system prompt, and rejects a misplaced one', () => {
    const dialog = [{ role: 'user', content: 'q' }, { role: 'bot', content: 'a' }];
    expect(parseConversation({ system: '', dialog }, 'auto')).toEqual({ turns: [{ user: 'q', bot: 'a' }] });
    expect(reason(() => parseConversation({ system: 3, dialog }, 'auto'))).toBe('bad-type');
    const late = [{ role: 'user', content: 'q' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'a' }];
    expect(reason(() => parseConversation({ messages: late }, 'auto'))).toBe('misplaced-system');
    expect(reason(() => parseConversation({ system: 's', conversations: [{ from: 'system', value: 't' }] }, 'auto'))).toBe(
      'misplaced-system',
    );
  });

  it('honours a forced --format and names what is missing', () => {
    const line = { dialog: [{ role: 'user', content: 'q' }, { role: 'bot', content: 'a' }] };
    expect(() => parseConversation(line, 'messages')).toThrow(/missing field "messages"/);
    expect(reason(() => parseConversation({ dialog: 'nope' }, 'auto'))).toBe('bad-type');
    expect(reason(() => parseConversation([1, 2], 'auto'))).toBe('bad-type');
    expect(reason(() => parseConversation({ messages: [] }, 'auto'))).toBe('no-final-bot-turn');
    expect(reason(() => parseConversation({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }, { from: 'gpt', value: 'b' }] }, 'auto'))).toBe(
      'two-bot-turns',
    );
    // A role that only another format has is unknown here (telechat2 says "bot", not "assistant").
    expect(reason(() => parseConversation({ dialog: [{ role: 'user', content: 'q' }, { role: 'gpt', content: 'a' }] }, 'auto'))).toBe(
      'unknown-role',
    );
  });
});

describe('template choice', () => {
  it('follows the model config: n_embd = 52B, TeleChat2 architectures, else v1', () => {
    expect(templateFromConfig({ n_embd: 8192, model_type: 'telechat', architectures: ['TelechatForCausalLM'] })).toBe('telechat-52b');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TeleChat2ForCausalLM'] })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['Telechat2ForCausalLM'] })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TelechatForCausalLM'] })).toBe('telechat');
    expect(templateFromConfig({ model_type: 'telechat' })).toBeUndefined(); // model_type alone never decides
    expect(chooseTemplate('data/tokenizer', 'telechat-52b')).toBe('telechat-52b');
    expect(() => chooseTemplate('data/tokenizer', undefined)).toThrow(/pass --template/);
  });
});
