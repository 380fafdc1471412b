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

describe('every key of a line is read or refused', () => {
  const ua = [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }];
  const hg = [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }];

  it('messages: a top-level "system" is the system prompt, as in sharegpt (two system prompts are refused)', () => {
    expect(parseConversation({ system: 'TOP', messages: ua }, 'auto')).toEqual({ system: 'TOP', turns: [{ user: 'a', bot: 'b' }] });
    expect(reason(() => parseConversation({ system: 'TOP', messages: [{ role: 'system', content: 'S' }, ...ua] }, 'auto'))).toBe(
      'misplaced-system',
    );
    // an empty system prompt, either way, is no system prompt
    expect(parseConversation({ system: '', messages: [{ role: 'system', content: 'S' }, ...ua] }, 'auto')).toEqual({
      system: 'S',
      turns: [{ user: 'a', bot: 'b' }],
    });
    expect(parseConversation({ messages: [{ role: 'system', content: '' }, ...ua] }, 'auto')).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
  });

  it('tools: a non-empty tool list is refused (no tool template), an empty one is fine', () => {
    expect(reason(() => parseConversation({ conversations: hg, tools: '[{"name": "f"}]' }, 'auto'))).toBe('unsupported');
    expect(reason(() => parseConversation({ messages: ua, tools: [{ type: 'function' }] }, 'auto'))).toBe('unsupported');
    expect(reason(() => parseConversation({ dialog: [{ role: 'user', content: 'a' }, { role: 'bot', content: 'b' }], tool: true }, 'auto'))).toBe(
      'unsupported',
    );
    for (const tools of ['', '[]', ' [ ] ', [], null]) {
      expect(parseConversation({ conversations: hg, tools }, 'auto')).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
    }
    // TeleChat2's own lines carry "multiturn" and "tool": false
    expect(
      parseConversation({ dialog: [{ role: 'user', content: 'a' }, { role: 'bot', content: 'b' }], multiturn: false, tool: false }, 'auto'),
    ).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
  });

  it('alpaca (LLaMA-Factory): instruction + "\\n" + input, optional system and history; not mistaken for telechat v1', () => {
    expect(parseConversation({ instruction: 'Translate to French', input: 'hello', output: 'bonjour' }, 'auto')).toEqual({
      turns: [{ user: 'Translate to French\nhello', bot: 'bonjour' }],
    });
    expect(parseConversation({ instruction: 'Say hi', input: '', output: 'hi', system: 'S', history: [['q0', 'a0']] }, 'auto')).toEqual({
      system: 'S',
      turns: [{ user: 'q0', bot: 'a0' }, { user: 'Say hi', bot: 'hi' }],
    });
    expect(parseConversation({ instruction: 'Say hi', output: 'hi' }, 'alpaca')).toEqual({ turns: [{ user: 'Say hi', bot: 'hi' }] });
    expect(() => parseConversation({ instruction: '', input: 'x', output: 'y' }, 'auto')).toThrow(/empty "instruction"/);
    expect(reason(() => parseConversation({ instruction: 'i', output: 'o', history: [['q']] }, 'auto'))).toBe('bad-type');
  });

  it('keys a format does not read are listed in ignored (the build reports them); metadata keys (id, source, meta, metadata) are not', () => {
    expect(parseConversation({ input: 'q', output: 'a', category: 'x' }, 'auto')).toEqual({ ignored: ['category'], turns: [{ user: 'q', bot: 'a' }] });
    expect(parseConversation({ messages: [{ role: 'user', content: 'a', name: 'x' }, ua[1]] }, 'auto').ignored).toEqual(['messages[].name']);
    expect(parseConversation({ conversations: [{ from: 'human', value: 'a', weight: 0 }, hg[1]], lang: 'en' }, 'auto').ignored).toEqual(['conversations[].weight', 'lang']);
    expect(parseConversation({ id: 1, source: 's', meta: {}, metadata: {}, messages: ua }, 'auto')).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
  });

  it('a line with two formats\' keys is ambiguous, also under a forced --format', () => {
    expect(reason(() => parseConversation({ messages: ua, conversations: hg }, 'auto'))).toBe('ambiguous-format');
    expect(reason(() => parseConversation({ messages: ua, conversations: hg }, 'messages'))).toBe('ambiguous-format');
    // an Alpaca line forced as telechat v1 (which reads input/output) would lose its instruction
    expect(reason(() => parseConversation({ instruction: 'i', input: 'q', output: 'a' }, 'telechat'))).toBe('ambiguous-format');
  });

  it('messages: "weight" 0 on an assistant message takes its loss away, 1 keeps it, anything else is refused', () => {
    const msgs = [ua[0], { ...ua[1], weight: 0 }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd', weight: 1 }];
    expect(parseConversation({ messages: msgs }, 'auto')).toEqual({
      turns: [{ user: 'a', bot: 'b', loss: false }, { user: 'c', bot: 'd' }],
    });
    expect(reason(() => parseConversation({ messages: [ua[0], { ...ua[1], weight: 0.5 }] }, 'auto'))).toBe('bad-weight');
    expect(reason(() => parseConversation({ messages: [{ ...ua[0], weight: 1 }, ua[1]] }, 'auto'))).toBe('bad-weight');
    expect(reason(() => parseConversation({ messages: [ua[0], { ...ua[1], weight: 0 }] }, 'auto'))).toBe('no-loss');
  });
});

describe('template choice', () => {
  it('follows the model config: n_embd = 52B, TeleChat2 architectures, else v1', () => {
    expect(templateFromConfig({ n_embd: 8192, model_type: 'telechat', architectures: ['TelechatForCausalLM'] })).toBe('telechat-52b');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TeleChat2ForCausalLM'] })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['Telechat2ForCausalLM'] })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TelechatForCausalLM'] })).toBe('telechat');
    // TeleChat2-7B and -115B name v1's architectures; their base_seqlen (TeleChat2 only) tells
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TeleChatForCausalLM'], base_seqlen: 8192 })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat', architectures: ['TelechatForCausalLM'], num_key_value_heads: 8, base_seqlen: 8192 })).toBe('telechat2');
    expect(templateFromConfig({ model_type: 'telechat' })).toBeUndefined(); // model_type alone never decides
    expect(chooseTemplate('data/tokenizer', 'telechat-52b')).toBe('telechat-52b');
    expect(() => chooseTemplate('data/tokenizer', undefined)).toThrow(/pass --template/);
  });
});
