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

/** `reason: message` of the BadLine an auto-detected line raises, or 'no error'. */
function badLineOf(line: unknown): string {
  try {
    parseConversation(line, 'auto');
  } catch (e) {
    if (e instanceof BadLine) return `${e.reason}: ${e.message}`;
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
    // text before the first marker is the first question (Tele-AI's data_utils.py puts <_user> in front)
    expect(parseConversation({ input: 'q1<_bot>a1<_user>q2', output: 'a2' }, 'auto')).toEqual({
      turns: [{ user: 'q1', bot: 'a1' }, { user: 'q2', bot: 'a2' }],
    });
    expect(reason(() => parseConversation({ input: 'x<_user>q', output: 'a' }, 'auto'))).toBe('two-user-turns');
    // an output with its <_bot> marker in front loses it, as in Tele-AI's data_utils.py (re.sub(r"^<_bot>", "", output))
    expect(parseConversation({ input: '<_user>q', output: '<_bot>a' }, 'auto')).toEqual({ turns: [{ user: 'q', bot: 'a' }] });
    expect(reason(() => parseConversation({ input: '<_user>q', output: '<_bot>' }, 'auto'))).toBe('empty-content');
    expect(reason(() => parseConversation({ input: 'x<_system>S<_user>q', output: 'a' }, 'auto'))).toBe('misplaced-system');
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
    expect(reason(() => parseConversation({ messages: [] }, 'auto'))).toBe('empty-content');
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
    for (const tools of ['', '[]', ' [ ] ', [], null]) {
      expect(parseConversation({ conversations: hg, tools }, 'auto')).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
    }
    // TeleChat2's own lines carry "multiturn" and "tool": false
    expect(
      parseConversation({ dialog: [{ role: 'user', content: 'a' }, { role: 'bot', content: 'b' }], multiturn: false, tool: false }, 'auto'),
    ).toEqual({ turns: [{ user: 'a', bot: 'b' }] });
  });

  it('tool calls on a message and tool-result roles are refused as unsupported, naming the field; empty ones are fine', () => {
    const call = [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }];
    const q = { role: 'user', content: 'weather?' };
    const why = badLineOf;
    // OpenAI: an assistant message with tool_calls and null (or "") content, then a "tool" result
    for (const content of [null, '', 'let me look']) {
      expect(why({ messages: [q, { role: 'assistant', content, tool_calls: call }, { role: 'tool', tool_call_id: 'c1', content: 'sunny' }, { role: 'assistant', content: 'Sunny.' }] })).toMatch(
        /^unsupported: field "tool_calls" in messages\[1\] holds a tool call, but there is no tool template here/,
      );
    }
    expect(why({ messages: [q, { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } }] })).toMatch(
      /^unsupported: field "function_call" in messages\[1\]/,
    );
    expect(why({ messages: [q, { role: 'tool', content: 'sunny' }, { role: 'assistant', content: 'a' }] })).toMatch(/^unsupported: role "tool" in messages\[1\] is a tool result/);
    expect(why({ messages: [q, { role: 'function', name: 'f', content: 'sunny' }, { role: 'assistant', content: 'a' }] })).toMatch(/^unsupported: role "function" in messages\[1\]/);
    // LLaMA-Factory sharegpt's tool roles, the same way
    expect(why({ conversations: [hg[0], { from: 'function_call', value: '{"name": "f"}' }, { from: 'observation', value: 'r' }, hg[1]] })).toMatch(
      /^unsupported: from "function_call" in conversations\[1\] is a tool call/,
    );
    expect(why({ conversations: [hg[0], { from: 'observation', value: 'r' }, hg[1]] })).toMatch(/^unsupported: from "observation" in conversations\[1\] is a tool result/);
    // empty ones carry nothing: read, not noted as ignored keys
    for (const empty of [{ tool_calls: null }, { tool_calls: [] }, { function_call: null }, { tool_calls: [], function_call: null }]) {
      expect(parseConversation({ messages: [q, { role: 'assistant', content: 'a', ...empty }] }, 'auto')).toEqual({ turns: [{ user: 'weather?', bot: 'a' }] });
    }
  });

  it('TeleChat2 "tool": true lines are read like any other (their tool text is in system and dialog)', () => {
    const dialog = [
      { role: 'user', content: '北京天气？' },
      { role: 'bot', content: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call>' },
      { role: 'user', content: '<tool_response>\n{"weather": "晴"}\n</tool_response>' },
      { role: 'bot', content: '北京今天晴。' },
    ];
    const system = '# 工具\n\n## 你拥有如下工具：\n\n{"name": "get_weather"}';
    const expected = {
      system,
      turns: [
        { user: dialog[0]!.content, bot: dialog[1]!.content },
        { user: dialog[2]!.content, bot: dialog[3]!.content },
      ],
    };
    expect(parseConversation({ system, dialog, multiturn: true, tool: true }, 'auto')).toEqual(expected);
    expect(parseConversation({ system, dialog, multiturn: true, tool: false }, 'auto')).toEqual(expected);
    expect(reason(() => parseConversation({ system, dialog, tool: 'yes' }, 'auto'))).toBe('bad-type');
    expect(reason(() => parseConversation({ system, dialog, multiturn: 1 }, 'auto'))).toBe('bad-type');
  });

  it('an empty field is named: alpaca "output" (and "instruction", history), telechat v1 "input" and "output"', () => {
    const msg = badLineOf;
    expect(msg({ instruction: 'i', input: '', output: '' })).toBe('empty-content: empty "output"');
    expect(msg({ instruction: 'i', output: '  ' })).toBe('empty-content: empty "output"');
    expect(msg({ instruction: ' ', output: 'o' })).toBe('empty-content: empty "instruction"');
    expect(msg({ instruction: 'i', output: 'o', history: [['q', '']] })).toBe('empty-content: empty answer in history[0]');
    expect(msg({ instruction: 'i', output: 'o', history: [['q', 'a'], [' ', 'a']] })).toBe('empty-content: empty question in history[1]');
    expect(msg({ input: '', output: 'a' })).toBe('empty-content: empty "input"');
    expect(msg({ input: 'q', output: '' })).toBe('empty-content: empty "output"');
    expect(msg({ input: '<_user>q<_bot>a<_end><_user> ', output: 'a' })).toBe('empty-content: empty user turn in "input": nothing after its 2nd <_user> marker');
    expect(msg({ input: '<_user>q<_bot><_user>q2', output: 'a' })).toBe('empty-content: empty bot turn in "input": nothing after its 1st <_bot> marker');
    // an empty optional alpaca "input" is fine
    expect(msg({ instruction: 'i', input: '', output: 'o' })).toBe('no error');
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
    // as LLaMA-Factory's converter: instruction and input each only when non-empty, so the prompt may sit in input alone
    expect(parseConversation({ instruction: '', input: 'x', output: 'y' }, 'auto')).toEqual({ turns: [{ user: 'x', bot: 'y' }] });
    expect(() => parseConversation({ instruction: '', input: ' ', output: 'y' }, 'auto')).toThrow(/empty "instruction" and "input"/);
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

  it('messages: LLaMA-Factory v1 "loss_weight" (0 or 1 on an answer, 0 elsewhere) and text-part lists are read', () => {
    const v1 = (text: string) => [{ type: 'text', value: text }];
    const msgs = [
      { role: 'system', content: v1('S'), loss_weight: 0.0 },
      { role: 'user', content: v1('a'), loss_weight: 0.0 },
      { role: 'assistant', content: v1('b'), loss_weight: 0.0 },
      { role: 'user', content: [{ type: 'text', text: 'c' }, { type: 'text', text: 'd' }] },
      { role: 'assistant', content: v1('e'), loss_weight: 1.0 },
    ];
    expect(parseConversation({ messages: msgs }, 'auto')).toEqual({
      system: 'S',
      turns: [{ user: 'a', bot: 'b', loss: false }, { user: 'cd', bot: 'e' }],
    });
    expect(badLineOf({ messages: [{ ...ua[0], loss_weight: 1 }, ua[1]] })).toBe('bad-weight: "loss_weight" 1 in messages[0]: only assistant messages carry loss here, a user message takes 0');
    expect(reason(() => parseConversation({ messages: [ua[0], { ...ua[1], loss_weight: 0.5 }] }, 'auto'))).toBe('bad-weight');
    expect(reason(() => parseConversation({ messages: [ua[0], { ...ua[1], loss_weight: 0, weight: 0 }] }, 'auto'))).toBe('bad-weight');
    expect(reason(() => parseConversation({ messages: [ua[0], { ...ua[1], loss_weight: 0 }] }, 'auto'))).toBe('no-loss');
    // a part that is not text, a part that is no object, and a content of another type are named
    expect(badLineOf({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }, ua[1]] })).toBe(
      'unsupported: part 0 of "content" in messages[0] is a "image_url" part: only text parts are read (the models trained here read text, and there is no tool template)',
    );
    expect(badLineOf({ messages: [{ role: 'user', content: ['q'] }, ua[1]] })).toBe('bad-type: part 0 of "content" in messages[0] must be an object, got string');
    expect(badLineOf({ messages: [{ role: 'user', content: [{ type: 'text', txt: 'q' }] }, ua[1]] })).toBe(
      'missing-field: missing field "text" (OpenAI) or "value" (LLaMA-Factory) in part 0 of "content" in messages[0]');
    expect(badLineOf({ messages: [{ role: 'user', content: 3 }, ua[1]] })).toBe('bad-type: field "content" in messages[0] must be a string or a list of text parts, got number');
    expect(parseConversation({ messages: [{ role: 'user', content: [{ type: 'text', text: 'q', cache_control: {} }] }, ua[1]] }, 'auto').ignored).toEqual([
      'messages[].content[].cache_control',
    ]);
  });

  it('preference (chosen/rejected) and KTO (a boolean label, kto_tag) lines are refused: trained as SFT they would teach the unwanted answers', () => {
    expect(badLineOf({ conversations: [hg[0]], chosen: { from: 'gpt', value: 'y' }, rejected: { from: 'gpt', value: 'n' } })).toMatch(
      /^unsupported: fields "chosen" and "rejected" mark preference data \(DPO\/ORPO pairs\)/,
    );
    expect(badLineOf({ messages: ua, label: false })).toMatch(/^unsupported: field "label" marks KTO data/);
    expect(badLineOf({ messages: ua, kto_tag: 'true' })).toMatch(/^unsupported: field "kto_tag" marks KTO data/);
    // a label that is no boolean is a dataset's own column, reported as not read
    expect(parseConversation({ messages: ua, label: 'chat' }, 'auto').ignored).toEqual(['label']);
  });

  it('an empty message list and a null field are named as such', () => {
    expect(badLineOf({ messages: [] })).toBe('empty-content: the conversation has no messages');
    expect(badLineOf({ messages: [ua[0], { role: 'assistant', content: null }] })).toBe('missing-field: field "content" in messages[1] is null');
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
