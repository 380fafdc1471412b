// The chat formats of the three TeleChat layouts, written twice from one table of strings:
// as Jinja (the GGUF's `tokenizer.chat_template`, which llama.cpp's server and tools reading GGUF
// metadata apply, and the `chat_template` of the HF dirs a run saves, for transformers'
// apply_chat_template), and as a TypeScript renderer that telechat-chat uses. The strings are
// those of templates.ts (what training rows hold):
//   telechat2:    "<_system>" + s + "\n", "<_user>" + q, "<_bot>" + a + "<_end>" + "\n"
//   telechat:     "<_system>" + s,        "<_user>" + q, "<_bot>" + a + "<_end>"
//   telechat-52b: as telechat2 without the "\n" after "<_end>"; the markers are plain text
// and the generation prompt is "<_bot>" for all three.
import type { TemplateName } from './templates.js';

interface Format {
  systemSuffix: string;
  endSuffix: string;
}

const FORMATS: Record<TemplateName, Format> = {
  telechat2: { systemSuffix: '\n', endSuffix: '\n' },
  telechat: { systemSuffix: '', endSuffix: '' },
  'telechat-52b': { systemSuffix: '\n', endSuffix: '' },
};

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const jinjaString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/'/g, "\\'")}'`;

/** The Jinja template (Hugging Face conventions: `messages`, `add_generation_prompt`). */
export function jinjaChatTemplate(name: TemplateName): string {
  const f = FORMATS[name];
  const sys = f.systemSuffix ? ` + ${jinjaString(f.systemSuffix)}` : '';
  const end = `'<_end>'${f.endSuffix ? ` + ${jinjaString(f.endSuffix)}` : ''}`;
  return (
    "{%- for message in messages %}" +
    "{%- if message['role'] == 'system' %}{{ '<_system>' + message['content']" + sys + ' }}' +
    "{%- elif message['role'] == 'user' %}{{ '<_user>' + message['content'] }}" +
    "{%- elif message['role'] == 'assistant' %}{{ '<_bot>' + message['content'] + " + end + ' }}' +
    '{%- endif %}{%- endfor %}' +
    "{%- if add_generation_prompt %}{{ '<_bot>' }}{%- endif %}"
  );
}

/** The same rendering in TypeScript. */
export function renderChat(name: TemplateName, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  const f = FORMATS[name];
  let out = '';
  for (const m of messages) {
    if (m.role === 'system') out += `<_system>${m.content}${f.systemSuffix}`;
    else if (m.role === 'user') out += `<_user>${m.content}`;
    else out += `<_bot>${m.content}<_end>${f.endSuffix}`;
  }
  return addGenerationPrompt ? out + '<_bot>' : out;
}

/** Texts that end the model's turn when they are plain text (52B: no special tokens). */
export function stopStrings(name: TemplateName): string[] {
  return name === 'telechat-52b' ? ['<_end>', '<_user>'] : [];
}
