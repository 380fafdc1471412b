// Reads a JSON config file. A syntax error is reported as FILE:LINE:COLUMN with a short
// reason found by our own scanner, because V8's messages differ across Node versions and
// often carry no position at all.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `${path}: config file not found` : `${path}: cannot read config: ${(err as Error).message}`);
  }
  return parseJsonText(text, path);
}

/** JSON.parse, whose syntax error is `WHERE:LINE:COLUMN: PROBLEM: reason` (a ConfigError). */
export function parseJsonWhere(text: string, where: string, problem: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const found = findJsonError(text) ?? { offset: 0, reason: (err as Error).message };
    const { line, column } = lineColumn(text, found.offset);
    throw new ConfigError(`${where}:${line}:${column}: ${problem}: ${found.reason}`);
  }
}

export function parseJsonText(text: string, where: string): unknown {
  // (DeepSpeed's json.load refuses a BOM too; the generic message would show an invisible character)
  if (text.startsWith('\uFEFF')) throw new ConfigError(`${where}:1:1: invalid JSON: the file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without one`);
  const value = parseJsonWhere(text, where, 'invalid JSON');
  // JSON.parse keeps the last of two equal keys, so the first would be silently ignored;
  // DeepSpeed refuses such a file too (dict_raise_error_on_duplicate_keys)
  const dup = findDuplicateKey(text);
  if (dup !== null) {
    const at = lineColumn(text, dup.offset);
    const first = lineColumn(text, dup.first);
    throw new ConfigError(`${where}:${at.line}:${at.column}: duplicate key "${dup.key}" (first given at ${first.line}:${first.column}); keep one`);
  }
  return value;
}

/**
 * The first key given twice in one object of `text` (valid JSON): its dotted path (array items
 * as [i]) and the offsets of both, or null.
 */
export function findDuplicateKey(text: string): { key: string; offset: number; first: number } | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): { key: string; offset: number; first: number } | null => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const object = c === '{';
      const seen = new Map<string, number>();
      i++;
      ws();
      for (let n = 0; text[i] !== (object ? '}' : ']'); n++) {
        let at = `${path}[${n}]`;
        if (object) {
          const offset = i;
          const name = string();
          at = path === '' ? name : `${path}.${name}`;
          const first = seen.get(name);
          if (first !== undefined) return { key: at, offset, first };
          seen.set(name, offset);
          ws();
          i++; // ':'
        }
        const dup = value(at);
        if (dup !== null) return dup;
        ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
    } else if (c === '"') {
      string();
    } else {
      while (i < text.length && !',]} \t\n\r'.includes(text[i]!)) i++;
    }
    return null;
  };
  return value('');
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class JsonSyntax extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Offset and reason of the first JSON syntax error in `text`, or null when it is valid JSON. */
export function findJsonError(text: string): { offset: number; reason: string } | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (reason: string): never => {
    throw new JsonSyntax(i, i >= text.length ? 'unexpected end of file' : `${reason}, found ${JSON.stringify(text[i])}`);
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') break;
      if (c < ' ') fail('control character in string');
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('bad \\u escape');
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? '')) fail('bad escape');
      }
      i++;
    }
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail("expected ',' or '}'");
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail("expected ',' or ']'");
      }
    } else if (c === '"') {
      string();
    } else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) fail('expected a value');
      i += m![0].length;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail('unexpected text after the JSON value');
    return null;
  } catch (err) {
    if (err instanceof JsonSyntax) return { offset: err.offset, reason: err.reason };
    throw err;
  }
}
