// Input jsonl formats -> one Conversation shape. Each line is detected on its own (or forced
// with --format) and validated strictly: every problem is a BadLine with a short reason code
// (counted per reason under --skip-bad) and a sentence for the user.

export interface Turn {
  user: string;
  bot: string;
}

export interface Conversation {
  system?: string;
  turns: Turn[];
}

export const FORMATS = ['telechat', 'telechat2', 'messages', 'sharegpt'] as const;
export type FormatName = (typeof FORMATS)[number];

export type BadReason =
  | 'non-utf8'
  | 'malformed-json'
  | 'unknown-format'
  | 'missing-field'
  | 'bad-type'
  | 'unknown-role'
  | 'empty-content'
  | 'misplaced-system'
  | 'starts-with-bot'
  | 'two-user-turns'
  | 'two-bot-turns'
  | 'no-final-bot-turn';

export class BadLine extends Error {
  constructor(
    readonly reason: BadReason,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;
type Role = 'system' | 'user' | 'bot';
interface Message {
  role: Role;
  content: string;
}

/** Which format a parsed line is in, from its keys. */
export function detectFormat(obj: Json): FormatName {
  if ('dialog' in obj) return 'telechat2';
  if ('messages' in obj) return 'messages';
  if ('conversations' in obj) return 'sharegpt';
  if ('input' in obj || 'output' in obj) return 'telechat';
  throw new BadLine(
    'unknown-format',
    'unknown format: expected a "dialog" (telechat2), "messages", "conversations" (sharegpt) or "input"/"output" (telechat) key',
  );
}

function field(obj: Json, key: string, where: string): unknown {
  if (!(key in obj) || obj[key] === undefined || obj[key] === null) {
    throw new BadLine('missing-field', `missing field "${key}"${where}`);
  }
  return obj[key];
}

function stringField(obj: Json, key: string, where: string): string {
  const v = field(obj, key, where);
  if (typeof v !== 'string') throw new BadLine('bad-type', `field "${key}"${where} must be a string, got ${typeName(v)}`);
  return v;
}

function arrayField(obj: Json, key: string): unknown[] {
  const v = field(obj, key, '');
  if (!Array.isArray(v)) throw new BadLine('bad-type', `field "${key}" must be an array, got ${typeName(v)}`);
  return v;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function objectAt(list: unknown[], i: number, key: string): Json {
  const v = list[i];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new BadLine('bad-type', `${key}[${i}] must be an object, got ${typeName(v)}`);
  }
  return v as Json;
}

/** Roles per format, mapped onto ours. */
const ROLE_MAPS: Record<'telechat2' | 'messages' | 'sharegpt', Record<string, Role>> = {
  telechat2: { user: 'user', bot: 'bot' },
  messages: { system: 'system', user: 'user', assistant: 'bot' },
  sharegpt: { system: 'system', human: 'user', gpt: 'bot' },
};

function messagesFrom(list: unknown[], key: string, roleKey: string, contentKey: string, roles: Record<string, Role>): Message[] {
  return list.map((_, i) => {
    const m = objectAt(list, i, key);
    const where = ` in ${key}[${i}]`;
    const role = stringField(m, roleKey, where);
    const mapped = Object.hasOwn(roles, role) ? roles[role] : undefined;
    if (mapped === undefined) {
      throw new BadLine('unknown-role', `unknown role "${role}"${where} (expected ${Object.keys(roles).join(', ')})`);
    }
    return { role: mapped, content: stringField(m, contentKey, where) };
  });
}

/**
 * Pairs messages into turns: an optional leading system message, then user/bot alternating,
 * starting with user and ending with bot. Every content must have non-whitespace text.
 */
export function pairTurns(messages: Message[], system: string | undefined): Conversation {
  let i = 0;
  if (messages.length > 0 && messages[0]!.role === 'system') {
    if (system !== undefined) throw new BadLine('misplaced-system', 'two system prompts');
    system = messages[0]!.content;
    i = 1;
  }
  const turns: Turn[] = [];
  let pendingUser: string | undefined;
  for (let k = i; k < messages.length; k++) {
    const m = messages[k]!;
    if (m.content.trim() === '') throw new BadLine('empty-content', `empty content in message ${k} (${m.role})`);
    if (m.role === 'system') throw new BadLine('misplaced-system', `system message at position ${k}; it must come first`);
    if (m.role === 'user') {
      if (pendingUser !== undefined) throw new BadLine('two-user-turns', `two user turns in a row (messages ${k - 1} and ${k})`);
      pendingUser = m.content;
    } else {
      if (pendingUser === undefined) {
        throw new BadLine(
          turns.length === 0 ? 'starts-with-bot' : 'two-bot-turns',
          turns.length === 0 ? `message ${k} is a bot turn before any user turn` : `two bot turns in a row (messages ${k - 1} and ${k})`,
        );
      }
      turns.push({ user: pendingUser, bot: m.content });
      pendingUser = undefined;
    }
  }
  if (pendingUser !== undefined || turns.length === 0) {
    throw new BadLine('no-final-bot-turn', 'the conversation does not end with a bot turn');
  }
  // An empty system string means "no system prompt" (TeleChat2 data often carries "system": "").
  return system === undefined || system === '' ? { turns } : { system, turns };
}

const V1_MARKER = /(<_system>|<_user>|<_bot>|<_end>)/;

/** TeleChat v1: {"input": "<_user>q1<_bot>a1<_user>q2", "output": "a2"}; input without markers = one question. */
function parseTelechat(obj: Json): Conversation {
  const input = stringField(obj, 'input', '');
  const output = stringField(obj, 'output', '');
  const parts = input.split(V1_MARKER);
  const messages: Message[] = [];
  if (parts.length === 1) {
    messages.push({ role: 'user', content: input });
  } else {
    if (parts[0]!.trim() !== '') throw new BadLine('bad-type', 'field "input" has text before its first <_user> marker');
    for (let k = 1; k < parts.length; k += 2) {
      const marker = parts[k]!;
      const text = parts[k + 1] ?? '';
      if (marker === '<_end>') {
        if (text.trim() !== '') throw new BadLine('bad-type', 'field "input" has text after <_end> outside a turn');
        continue;
      }
      const role: Role = marker === '<_user>' ? 'user' : marker === '<_bot>' ? 'bot' : 'system';
      if (role === 'system' && messages.length > 0) throw new BadLine('misplaced-system', '<_system> must come first in "input"');
      messages.push({ role, content: text });
    }
  }
  messages.push({ role: 'bot', content: output });
  return pairTurns(messages, undefined);
}

function optionalSystem(obj: Json): string | undefined {
  if (!('system' in obj) || obj.system === null || obj.system === undefined) return undefined;
  if (typeof obj.system !== 'string') throw new BadLine('bad-type', `field "system" must be a string, got ${typeName(obj.system)}`);
  return obj.system;
}

/** Parses one JSON line (already decoded) in the given or detected format. */
export function parseConversation(value: unknown, format: FormatName | 'auto'): Conversation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadLine('bad-type', `a line must be a JSON object, got ${typeName(value)}`);
  }
  const obj = value as Json;
  const fmt = format === 'auto' ? detectFormat(obj) : format;
  switch (fmt) {
    case 'telechat':
      return parseTelechat(obj);
    case 'telechat2':
      return pairTurns(messagesFrom(arrayField(obj, 'dialog'), 'dialog', 'role', 'content', ROLE_MAPS.telechat2), optionalSystem(obj));
    case 'messages':
      return pairTurns(messagesFrom(arrayField(obj, 'messages'), 'messages', 'role', 'content', ROLE_MAPS.messages), undefined);
    case 'sharegpt':
      return pairTurns(
        messagesFrom(arrayField(obj, 'conversations'), 'conversations', 'from', 'value', ROLE_MAPS.sharegpt),
        optionalSystem(obj),
      );
  }
}

/** Decodes and parses one raw line; throws BadLine for every kind of bad input. */
export function parseLine(bytes: Uint8Array, format: FormatName | 'auto', decoder: TextDecoder): Conversation {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new BadLine('non-utf8', 'the line is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadLine('malformed-json', `malformed JSON (${(e as Error).message})`);
  }
  return parseConversation(value, format);
}
