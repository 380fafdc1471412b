// Input jsonl formats -> one Conversation shape. Each line is detected on its own (or forced
// with --format) and validated strictly: every problem is a BadLine with a short reason code
// (counted per reason under --skip-bad) and a sentence for the user.

export interface Turn {
  user: string;
  bot: string;
  /** false: the answer carries no loss (an OpenAI-style `"weight": 0` on the assistant message). */
  loss?: false;
}

export interface Conversation {
  /** Keys of the line its format does not read (not metadata): counted and reported by the build. */
  ignored?: string[];
  system?: string;
  turns: Turn[];
}

export const FORMATS = ['telechat', 'telechat2', 'messages', 'sharegpt', 'alpaca'] as const;
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
  | 'no-final-bot-turn'
  | 'ambiguous-format'
  | 'unsupported'
  | 'bad-weight'
  | 'no-loss';

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
  /** false: no loss on this (bot) message. */
  loss?: false;
}

/** The key that marks each format (telechat v1 is "input"/"output" without any of these). */
const FORMAT_KEYS: Array<[string, FormatName]> = [
  ['dialog', 'telechat2'],
  ['messages', 'messages'],
  ['conversations', 'sharegpt'],
  ['instruction', 'alpaca'],
];

/** Which format a parsed line is in, from its keys; a line with two formats' keys is refused. */
export function detectFormat(obj: Json): FormatName {
  const found = FORMAT_KEYS.filter(([k]) => k in obj);
  if (found.length > 1) {
    throw new BadLine(
      'ambiguous-format',
      `ambiguous line: it has both ${found.map(([k, f]) => `"${k}" (${f})`).join(' and ')}; keep one`,
    );
  }
  if (found.length === 1) return found[0]![1];
  if ('input' in obj || 'output' in obj) return 'telechat';
  throw new BadLine(
    'unknown-format',
    'unknown format: expected a "dialog" (telechat2), "messages", "conversations" (sharegpt), "instruction" (alpaca) or "input"/"output" (telechat) key',
  );
}

/**
 * Keys a line may carry that no format reads: record metadata that is not training input.
 * Every other key must be one its format reads, so nothing is silently dropped.
 */
const METADATA_KEYS = ['id', 'source', 'meta', 'metadata'] as const;

/**
 * LLaMA-Factory's multimodal columns (mllm_demo.json: "<image>" in the text, the files in "images"):
 * training input a text-only model cannot take, so read (in its three formats) only to refuse them
 * when non-empty, as a "tools" list is, rather than train on text that points at missing media.
 */
const MEDIA_KEYS = ['images', 'videos', 'audios'] as const;

function refuseMedia(obj: Json): void {
  for (const key of MEDIA_KEYS) {
    if (!emptyTools(obj[key])) {
      throw new BadLine(
        'unsupported',
        `field "${key}" lists media, but telechat-train trains text-only models: remove it (and its placeholders in the text) or leave it empty`,
      );
    }
  }
}

/** The keys each format reads on a line. */
const FORMAT_FIELDS: Record<FormatName, readonly string[]> = {
  telechat: ['system', 'input', 'output'],
  telechat2: ['system', 'dialog', 'multiturn', 'tool'],
  messages: ['system', 'messages', 'tools', 'functions', ...MEDIA_KEYS],
  sharegpt: ['system', 'conversations', 'tools', ...MEDIA_KEYS],
  alpaca: ['system', 'instruction', 'input', 'output', 'history', 'tools', ...MEDIA_KEYS],
};

/**
 * Keys of obj that are neither read (`allowed`) nor metadata, added to `ignored` as `prefix` + key:
 * the build counts them per source and says so (manifest `ignored_keys`, the build summary), rather
 * than stopping on a field a dataset carries for its own bookkeeping ("category", "lang", ...).
 */
function noteIgnoredKeys(obj: Json, allowed: readonly string[], prefix: string, ignored: Set<string>, metadata: readonly string[] = []): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k) && !metadata.includes(k)) ignored.add(prefix + k);
}

/** True for a tool list that lists nothing: absent, null, "", "[]" or []. */
function emptyTools(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return true;
    try {
      const parsed: unknown = JSON.parse(t);
      return Array.isArray(parsed) && parsed.length === 0;
    } catch {
      return false;
    }
  }
  return false;
}

function refuseTools(obj: Json, key: string, fmt: FormatName): void {
  if (!emptyTools(obj[key])) {
    throw new BadLine(
      'unsupported',
      `field "${key}" lists tools, but the ${fmt} format has no tool template here: remove the tools (or leave "${key}" empty) to train on the conversation without them`,
    );
  }
}

function field(obj: Json, key: string, where: string): unknown {
  if (!(key in obj) || obj[key] === undefined) throw new BadLine('missing-field', `missing field "${key}"${where}`);
  if (obj[key] === null) throw new BadLine('missing-field', `field "${key}"${where} is null`);
  return obj[key];
}

function stringField(obj: Json, key: string, where: string): string {
  const v = field(obj, key, where);
  if (typeof v !== 'string') throw new BadLine('bad-type', `field "${key}"${where} must be a string, got ${typeName(v)}`);
  return wellFormed(v, `field "${key}"${where}`);
}

/** With the u flag a surrogate pair is one code point, so this matches only a lone (unpaired) surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A JSON escape such as "\ud800" (valid JSON, valid UTF-8 bytes) can still decode to a lone UTF-16
 * surrogate, which is no character: encoding it to UTF-8 would silently turn it into U+FFFD (Python
 * sentencepiece refuses it outright). Refused naming the field.
 */
function wellFormed(v: string, what: string): string {
  const m = LONE_SURROGATE.exec(v);
  if (m) {
    const hex = m[0].charCodeAt(0).toString(16);
    throw new BadLine('non-utf8', `${what} holds a lone surrogate \\u${hex} (a JSON escape that is not a character), so it is not valid Unicode text`);
  }
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

/**
 * Roles that carry tool calls or tool results (OpenAI "tool"/"function", LLaMA-Factory sharegpt
 * "function_call"/"observation"): there is no tool template, so they are refused, like `tools`.
 */
const TOOL_ROLES: Record<'messages' | 'sharegpt', readonly string[]> = {
  messages: ['tool', 'function'],
  sharegpt: ['function_call', 'observation', 'tool'],
};

/** Fields of a message that carry a tool call (OpenAI): refused when non-empty, read (and checked) when empty. */
const TOOL_CALL_FIELDS = ['tool_calls', 'function_call'] as const;

/** Roles per format, mapped onto ours. */
const ROLE_MAPS: Record<'telechat2' | 'messages' | 'sharegpt', Record<string, Role>> = {
  telechat2: { user: 'user', bot: 'bot' },
  messages: { system: 'system', user: 'user', assistant: 'bot' },
  sharegpt: { system: 'system', human: 'user', gpt: 'bot' },
};

function messagesFrom(
  list: unknown[],
  key: string,
  roleKey: string,
  contentKey: string,
  roles: Record<string, Role>,
  ignored: Set<string>,
  opts: { weighted?: boolean; toolRoles?: readonly string[]; toolCalls?: boolean; textParts?: boolean } = {},
): Message[] {
  const weighted = opts.weighted ?? false;
  const read = [roleKey, contentKey, ...(weighted ? ['weight', 'loss_weight'] : []), ...(opts.toolCalls ? TOOL_CALL_FIELDS : [])];
  return list.map((_, i) => {
    const m = objectAt(list, i, key);
    const where = ` in ${key}[${i}]`;
    const role = stringField(m, roleKey, where);
    if (opts.toolRoles?.includes(role)) {
      throw new BadLine(
        'unsupported',
        `${roleKey} "${role}"${where} is a tool ${role === 'function_call' ? 'call' : 'result'}, but there is no tool template here: remove tool messages to train on the conversation without them`,
      );
    }
    if (opts.toolCalls) {
      // checked before "content", which an assistant message with tool calls often leaves null
      for (const f of TOOL_CALL_FIELDS) {
        if (!emptyTools(m[f])) {
          throw new BadLine(
            'unsupported',
            `field "${f}"${where} holds a tool call, but there is no tool template here: remove it (or leave it null or []) to train on the conversation without it`,
          );
        }
      }
    }
    const mapped = Object.hasOwn(roles, role) ? roles[role] : undefined;
    if (mapped === undefined) {
      throw new BadLine('unknown-role', `unknown role "${role}"${where} (expected ${Object.keys(roles).join(', ')})`);
    }
    const content = opts.textParts ? partsText(m, contentKey, where, `${key}[].`, ignored) : stringField(m, contentKey, where);
    noteIgnoredKeys(m, read, `${key}[].`, ignored);
    if (weighted && 'weight' in m && 'loss_weight' in m) throw new BadLine('bad-weight', `both "weight" and "loss_weight"${where}: give one`);
    if (weighted && 'weight' in m) {
      // OpenAI fine-tuning: "weight" on an assistant message, 0 (no loss on it) or 1.
      const w = m.weight;
      if (mapped !== 'bot') throw new BadLine('bad-weight', `"weight"${where} is only read on assistant messages`);
      if (w !== 0 && w !== 1) throw new BadLine('bad-weight', `"weight"${where} must be 0 or 1, got ${JSON.stringify(w)}`);
      if (w === 0) return { role: mapped, content, loss: false };
    }
    if (weighted && 'loss_weight' in m) {
      // LLaMA-Factory v1's messages: "loss_weight" on every message, 1.0 where the loss is taken. Only
      // answers can carry loss here, so 0 or 1 on an assistant message and 0 on the others.
      const w = m.loss_weight;
      if (w !== 0 && w !== 1) throw new BadLine('bad-weight', `"loss_weight"${where} must be 0 or 1, got ${JSON.stringify(w)}`);
      if (mapped !== 'bot' && w !== 0) {
        throw new BadLine('bad-weight', `"loss_weight" 1${where}: only assistant messages carry loss here, a ${role} message takes 0`);
      }
      if (mapped === 'bot' && w === 0) return { role: mapped, content, loss: false };
    }
    return { role: mapped, content };
  });
}

/**
 * A message's content: a string, or a list of parts as OpenAI (`{"type": "text", "text": ...}`) and
 * LLaMA-Factory v1 (`{"type": "text", "value": ...}`) write it, whose text parts are joined in order
 * (as chat templates render them). Any other part (an image, a tool call) is refused: the models
 * trained here read text only and there is no tool template.
 */
function partsText(m: Json, key: string, where: string, ignoredPrefix: string, ignored: Set<string>): string {
  const v = field(m, key, where);
  if (typeof v === 'string') return wellFormed(v, `field "${key}"${where}`);
  if (!Array.isArray(v)) throw new BadLine('bad-type', `field "${key}"${where} must be a string or a list of text parts, got ${typeName(v)}`);
  return v
    .map((item: unknown, j) => {
      const at = ` in part ${j} of "${key}"${where}`;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new BadLine('bad-type', `part ${j} of "${key}"${where} must be an object, got ${typeName(item)}`);
      const part = item as Json;
      const type = stringField(part, 'type', at);
      if (type !== 'text') {
        throw new BadLine('unsupported', `part ${j} of "${key}"${where} is a "${type}" part: only text parts are read (the models trained here read text, and there is no tool template)`);
      }
      if (!('text' in part) && !('value' in part)) throw new BadLine('missing-field', `missing field "text" (OpenAI) or "value" (LLaMA-Factory)${at}`);
      const textKey = 'text' in part ? 'text' : 'value';
      noteIgnoredKeys(part, ['type', textKey], `${ignoredPrefix}${key}[].`, ignored);
      return stringField(part, textKey, at);
    })
    .join('');
}

/**
 * Pairs messages into turns: an optional leading system message, then user/bot alternating,
 * starting with user and ending with bot. Every content must have non-whitespace text.
 */
export function pairTurns(messages: Message[], system: string | undefined): Conversation {
  if (messages.length === 0) throw new BadLine('empty-content', 'the conversation has no messages');
  let i = 0;
  if (messages[0]!.role === 'system') {
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
      turns.push(m.loss === false ? { user: pendingUser, bot: m.content, loss: false } : { user: pendingUser, bot: m.content });
      pendingUser = undefined;
    }
  }
  if (pendingUser !== undefined || turns.length === 0) {
    throw new BadLine('no-final-bot-turn', 'the conversation does not end with a bot turn');
  }
  if (turns.every((t) => t.loss === false)) {
    throw new BadLine('no-loss', 'every assistant message has weight 0, so nothing in the conversation would be trained on');
  }
  // An empty system prompt (a "system": "" field or a system message with content "") means
  // "no system prompt": TeleChat2 and LLaMA-Factory data often carry "system": "".
  return system === undefined || system === '' ? { turns } : { system, turns };
}

const V1_MARKER = /(<_system>|<_user>|<_bot>|<_end>)/;

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

/**
 * TeleChat v1: {"input": "<_user>q1<_bot>a1<_user>q2", "output": "a2"}; input without markers = one
 * question (and text before the first marker the first one); a system prompt as a leading
 * <_system> marker in input or a top-level "system".
 */
function parseTelechat(obj: Json): Conversation {
  const input = stringField(obj, 'input', '');
  // an answer written with its <_bot> marker in front: Tele-AI's data_utils.py (v1 and 52B)
  // removes that marker, which the template inserts itself
  const output = stringField(obj, 'output', '').replace(/^<_bot>/, '');
  const parts = input.split(V1_MARKER);
  const messages: Message[] = [];
  if (parts.length === 1) {
    if (input.trim() === '') throw new BadLine('empty-content', 'empty "input"');
    messages.push({ role: 'user', content: input });
  } else {
    // text before the first marker is the first question, as Tele-AI's data_utils.py reads it (it
    // puts a <_user> in front of an input that does not start with one); before a <_system> marker
    // it would be a question ahead of the system prompt
    if (parts[0]!.trim() !== '') {
      if (parts[1] === '<_system>') throw new BadLine('misplaced-system', 'field "input" has text before its <_system> marker; the system prompt must come first');
      messages.push({ role: 'user', content: parts[0]! });
    }
    for (let k = 1; k < parts.length; k += 2) {
      const marker = parts[k]!;
      const text = parts[k + 1] ?? '';
      if (marker === '<_end>') {
        if (text.trim() !== '') throw new BadLine('bad-type', 'field "input" has text after <_end> outside a turn');
        continue;
      }
      const role: Role = marker === '<_user>' ? 'user' : marker === '<_bot>' ? 'bot' : 'system';
      if (role === 'system' && messages.length > 0) throw new BadLine('misplaced-system', '<_system> must come first in "input"');
      // an empty <_system> is no system prompt; an empty turn is named by its marker in "input"
      if (role !== 'system' && text.trim() === '') {
        const nth = messages.filter((m) => m.role === role).length + 1;
        throw new BadLine('empty-content', `empty ${role} turn in "input": nothing after its ${ordinal(nth)} ${marker} marker`);
      }
      messages.push({ role, content: text });
    }
  }
  if (output.trim() === '') throw new BadLine('empty-content', 'empty "output"');
  messages.push({ role: 'bot', content: output });
  // a top-level "system", as every other format reads it (with a <_system> marker too: two prompts)
  return pairTurns(messages, optionalSystem(obj));
}

/** A top-level "system" string; absent, null or "" is none. */
function optionalSystem(obj: Json): string | undefined {
  if (!('system' in obj) || obj.system === null || obj.system === undefined) return undefined;
  if (typeof obj.system !== 'string') throw new BadLine('bad-type', `field "system" must be a string, got ${typeName(obj.system)}`);
  return obj.system === '' ? undefined : wellFormed(obj.system, 'field "system"');
}

/** An optional string field: absent or null is "". */
function optionalString(obj: Json, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new BadLine('bad-type', `field "${key}" must be a string, got ${typeName(v)}`);
  return wellFormed(v, `field "${key}"`);
}

/**
 * TeleChat2's own data: "multiturn" and "tool" are boolean flags that, in Tele-AI's train.py, only
 * keep a line out of packing (its dataframe filter on both). A "tool": true line carries its
 * tool text inside the ordinary fields (the tool schema in "system", `<tool_call>` in bot turns,
 * `<tool_response>` results as user turns), and Tele-AI's train.py renders it with the normal
 * template; there "tool" only keeps such lines out of packing, and our packing keeps every
 * conversation's attention to itself anyway. So both values build the same way.
 */
function checkTelechat2(obj: Json): void {
  for (const key of ['multiturn', 'tool']) {
    if (key in obj && obj[key] !== null && typeof obj[key] !== 'boolean') {
      throw new BadLine('bad-type', `field "${key}" must be a boolean, got ${typeName(obj[key])}`);
    }
  }
}

/**
 * LLaMA-Factory's alpaca format: the user turn is instruction and input joined by "\n", each only
 * when non-empty (its AlpacaDatasetConverter; so a line with the whole prompt in "input" and an
 * empty "instruction" is that prompt), the answer is output; "history" is earlier [question, answer] pairs.
 */
function parseAlpaca(obj: Json): Conversation {
  const instruction = stringField(obj, 'instruction', '');
  const input = optionalString(obj, 'input');
  const output = stringField(obj, 'output', '');
  const user = [instruction, input].filter((s) => s !== '').join('\n');
  if (user.trim() === '') throw new BadLine('empty-content', input === '' ? 'empty "instruction"' : 'empty "instruction" and "input"');
  if (output.trim() === '') throw new BadLine('empty-content', 'empty "output"');
  const messages: Message[] = [];
  const history = obj.history;
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) throw new BadLine('bad-type', `field "history" must be an array of [question, answer] pairs, got ${typeName(history)}`);
    history.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw new BadLine('bad-type', `history[${i}] must be a [question, answer] pair of strings`);
      }
      wellFormed(pair[0], `the question in history[${i}]`);
      wellFormed(pair[1], `the answer in history[${i}]`);
      if (pair[0].trim() === '') throw new BadLine('empty-content', `empty question in history[${i}]`);
      if (pair[1].trim() === '') throw new BadLine('empty-content', `empty answer in history[${i}]`);
      messages.push({ role: 'user', content: pair[0] }, { role: 'bot', content: pair[1] });
    });
  }
  messages.push({ role: 'user', content: user });
  messages.push({ role: 'bot', content: output });
  return pairTurns(messages, optionalSystem(obj));
}

/**
 * Lines of LLaMA-Factory's preference data (a "chosen" and a "rejected" answer: DPO, ORPO, reward
 * models) and of its KTO data (a boolean "label" or "kto_tag" saying whether the answer is wanted).
 * Trained as supervised data they would teach the rejected or unwanted answers, so they are refused.
 */
function refuseNonSft(obj: Json): void {
  const pair = ['chosen', 'rejected'].filter((k) => k in obj);
  if (pair.length > 0) {
    throw new BadLine(
      'unsupported',
      `${pair.length > 1 ? 'fields "chosen" and "rejected" mark' : `field "${pair[0]}" marks`} preference data (DPO/ORPO pairs), but telechat-train does supervised ` +
        'fine-tuning only: keep the chosen answer as the last assistant turn and drop the rejected one',
    );
  }
  const tag = 'kto_tag' in obj ? 'kto_tag' : typeof obj['label'] === 'boolean' ? 'label' : undefined;
  if (tag !== undefined) {
    throw new BadLine(
      'unsupported',
      `field "${tag}" marks KTO data (whether the answer is wanted), but telechat-train does supervised fine-tuning only and would ` +
        `train on every answer: keep the lines whose answer is wanted and remove "${tag}"`,
    );
  }
}

/** Parses one JSON line (already decoded) in the given or detected format. */
export function parseConversation(value: unknown, format: FormatName | 'auto'): Conversation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadLine('bad-type', `a line must be a JSON object, got ${typeName(value)}`);
  }
  const obj = value as Json;
  refuseNonSft(obj);
  const fmt = format === 'auto' ? detectFormat(obj) : format;
  const ignored = new Set<string>();
  const conv = parseAs(obj, fmt, ignored);
  // a forced format's line that also carries another format's key is as ambiguous as an auto one
  const other = FORMAT_KEYS.find(([k, f]) => f !== fmt && k in obj && !FORMAT_FIELDS[fmt].includes(k));
  if (other) throw new BadLine('ambiguous-format', `ambiguous line: it has "${other[0]}" (${other[1]}) but is read as ${fmt}; keep one format`);
  noteIgnoredKeys(obj, FORMAT_FIELDS[fmt], '', ignored, METADATA_KEYS);
  return ignored.size > 0 ? { ...conv, ignored: [...ignored] } : conv;
}

function parseAs(obj: Json, fmt: FormatName, ignored: Set<string>): Conversation {
  switch (fmt) {
    case 'telechat':
      return parseTelechat(obj);
    case 'telechat2':
      checkTelechat2(obj);
      return pairTurns(messagesFrom(arrayField(obj, 'dialog'), 'dialog', 'role', 'content', ROLE_MAPS.telechat2, ignored), optionalSystem(obj));
    case 'messages':
      refuseTools(obj, 'tools', fmt);
      refuseTools(obj, 'functions', fmt);
      refuseMedia(obj);
      // A top-level "system" is the system prompt, as in sharegpt (LLaMA-Factory's system column).
      return pairTurns(
        messagesFrom(arrayField(obj, 'messages'), 'messages', 'role', 'content', ROLE_MAPS.messages, ignored, {
          weighted: true,
          toolRoles: TOOL_ROLES.messages,
          toolCalls: true,
          textParts: true,
        }),
        optionalSystem(obj),
      );
    case 'sharegpt':
      refuseTools(obj, 'tools', fmt);
      refuseMedia(obj);
      return pairTurns(
        messagesFrom(arrayField(obj, 'conversations'), 'conversations', 'from', 'value', ROLE_MAPS.sharegpt, ignored, {
          toolRoles: TOOL_ROLES.sharegpt,
        }),
        optionalSystem(obj),
      );
    case 'alpaca':
      // LLaMA-Factory maps a "tools" column for alpaca too; refused as in sharegpt
      refuseTools(obj, 'tools', fmt);
      refuseMedia(obj);
      return parseAlpaca(obj);
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
