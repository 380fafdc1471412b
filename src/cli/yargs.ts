// yargs for every CLI, with help text wrapped between words. yargs' ESM entry renders help
// through cliui's ESM shim, whose wrap cuts lines every N characters (mid-word: "tokeniz/er");
// its CommonJS entry uses wrap-ansi, which breaks at spaces. Same API, same version.
//
// Usage errors (an unknown option, a value outside the choices, a missing option or argument)
// are one line on stderr, `telechat-X: <reason> (see --help)`, and exit 1: not the whole help
// page followed by yargs' own wording. A CLI that sets its own .fail() replaces this (yargs
// runs the last handler first); such a handler can print usageErrorLine(...) to say the same.
//
// Before yargs' own validation, every declared option's value is checked against what was typed
// (argvProblem): a number option that is not a number (`--seed abc`: yargs would pass NaN on),
// an option given more than once where it takes one value (yargs would pass an array on), and
// an option given without its value (`--config` at the end, `--config=`), a switch given a value
// other than true or false (`--dry-run=1`, which yargs reads as false). Options that must be
// whole numbers add `.middleware(integers({...}), true)`; both fail as usage errors, before any
// command runs or prints.
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import type yargsEsm from 'yargs';

import { DECIMAL_TEXT } from '../config/overrides.js';

const require = createRequire(import.meta.url);
const base = require('yargs') as typeof yargsEsm;

/** yargs, with one-line usage errors (see above). */
export const yargs: typeof yargsEsm = (processArgs, cwd, parentRequire) => {
  const y = base(processArgs, cwd, parentRequire);
  const args = typeof processArgs === 'string' ? processArgs.split(/\s+/) : [...(processArgs ?? [])];
  return y
    .showHelpOnFail(false)
    .fail((msg: string | null | undefined, err: Error | undefined) => {
      const name = cliName();
      process.stderr.write(usageErrorLine(name, msg || err?.message || 'invalid command line', args) + '\n');
      process.exit(1);
    })
    .middleware((argv) => {
      // y is also the instance a command's builder gets (yargs resets it for the command)
      const problem = argvProblem(argv, (y as unknown as { getOptions(): DeclaredOptions }).getOptions(), args);
      if (problem) usageFail(problem);
    }, true);
};

/** The command's name: bin telechat-<name> is dist/cli/<name>.js, run as either (npx runs the bin link). */
function cliName(): string {
  const script = basename(process.argv[1] ?? 'cli', '.js');
  return script.startsWith('telechat-') ? script : `telechat-${script}`;
}

/** A usage error found outside yargs' own checks: the same one line, exit 1. */
export function usageFail(message: string): never {
  process.stderr.write(`${cliName()}: ${message} (see --help)\n`);
  process.exit(1);
}

/** The parts of yargs' getOptions() that argvProblem reads. */
interface DeclaredOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  array: string[];
  boolean: string[];
  count: string[];
  number: string[];
  string: string[];
}

/**
 * What was typed as the value of option `key` (the last occurrence; `--key v`, `--key=v`, or an
 * alias), '' where it was given without a value, undefined where it was not given at all.
 */
function rawValue(args: readonly string[], key: string, aliases: readonly string[] = []): string | undefined {
  return rawValues(args, key, aliases).at(-1);
}

/** Every value typed for option `key`, in order (see rawValue). */
function rawValues(args: readonly string[], key: string, aliases: readonly string[] = []): string[] {
  const names = new Set([key, camel(key), ...aliases].map(flag));
  const raw: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!;
    if (t === '--') break;
    const eq = t.indexOf('=');
    if (eq > 0 && names.has(t.slice(0, eq))) raw.push(t.slice(eq + 1));
    else if (names.has(t)) {
      const next = args[i + 1];
      // yargs takes the next token as the value unless it looks like an option (-1 is a value)
      raw.push(next === undefined || next === '--' || (next.startsWith('-') && !/^-\.?\d/.test(next)) ? '' : next);
    }
  }
  return raw;
}

/**
 * The first value typed for boolean option `key` as `--key=VALUE` (or `--no-key=VALUE`) that is not
 * true or false, or null. yargs reads any other value (`--dry-run=1`, `=yes`) as false: a switch
 * the user meant to turn on would silently stay off.
 */
function booleanValue(args: readonly string[], key: string, aliases: readonly string[]): string | null {
  const names = [key, camel(key), ...aliases].flatMap((n) => [flag(n), `--no-${n}`]);
  for (const t of args) {
    if (t === '--') break;
    const eq = t.indexOf('=');
    if (eq < 0 || !names.includes(t.slice(0, eq))) continue;
    const value = t.slice(eq + 1);
    if (value !== 'true' && value !== 'false') return value;
  }
  return null;
}

/**
 * One sentence naming the first option whose parsed value does not stand for what was typed, or
 * null: a number option that is not a (decimal, finite) number, an option given twice that takes one value, an
 * option given without a value (array options too), a switch given a value other than true or
 * false. Counts take what they are given.
 */
function argvProblem(argv: Record<string, unknown>, options: DeclaredOptions, args: readonly string[]): string | null {
  for (const key of Object.keys(options.key)) {
    // an array option typed without a value (`--set` last, or before another option) would be an empty list
    if (options.array.includes(key) && rawValues(args, key, options.alias[key] ?? []).includes('')) return `${flag(key)} needs a value`;
    if (options.boolean.includes(key)) {
      const bad = booleanValue(args, key, options.alias[key] ?? []);
      if (bad !== null) return `${flag(key)} is a switch: give it alone (or =true, =false), got ${JSON.stringify(bad)}`;
      continue;
    }
    if (options.array.includes(key) || options.count.includes(key)) continue;
    const value = argv[key];
    const typed = rawValues(args, key, options.alias[key] ?? []);
    const raw = typed.at(-1);
    if (raw === undefined) continue; // not typed: a default, or absent
    // (yargs makes an array of some repeats and keeps the last of others: count what was typed)
    if (typed.length > 1 || Array.isArray(value)) return `${flag(key)} is given more than once`;
    if (raw === '' || value === undefined || value === true || value === '') return `${flag(key)} needs a value`;
    if (options.number.includes(key)) {
      if (typeof value !== 'number' || Number.isNaN(value)) return `${flag(key)} expects a number, got ${JSON.stringify(raw)}`;
      // yargs' Number() also reads 0x10, 0b1, 0o7 and overflows 1e400 to Infinity
      if (!DECIMAL_TEXT.test(raw)) return `${flag(key)} expects a decimal number, got ${JSON.stringify(raw)}`;
      if (!Number.isFinite(value)) return `${flag(key)} expects a finite number, got ${JSON.stringify(raw)}`;
      // 1e-400 reads as 0: a value the user did not give
      if (value === 0 && /[1-9]/.test(raw.replace(/[eE].*$/, ''))) return `${flag(key)} is too small for a double (it would be 0), got ${JSON.stringify(raw)}`;
    }
  }
  return null;
}

/** Bounds of a whole-number option (inclusive). */
export interface IntegerSpec {
  min?: number;
  max?: number;
}

/**
 * A before-validation middleware refusing a non-whole or out-of-range value of these number
 * options, echoing what was typed: `.middleware(integers({ seed: { min: 0 } }), true)`.
 */
export function integers(spec: Record<string, IntegerSpec>): (argv: Record<string, unknown>) => void {
  return (argv) => {
    for (const [key, { min, max }] of Object.entries(spec)) {
      const v = argv[key];
      if (typeof v !== 'number' || Number.isNaN(v)) continue; // absent; NaN is argvProblem's
      const typed = JSON.stringify(rawValue(process.argv.slice(2), key) ?? String(v));
      const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
      if (!Number.isInteger(v) || (min !== undefined && v < min) || (max !== undefined && v > max)) {
        usageFail(`${flag(key)} must be an integer${range}, got ${typed}`);
      }
    }
  };
}

/** `NAME: reason (see --help)`, reason being yargs' message reworded as one sentence. */
export function usageErrorLine(name: string, yargsMessage: string, args: readonly string[] = []): string {
  return `${name}: ${usageReason(yargsMessage, args)} (see --help)`;
}

const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const flag = (key: string): string => (key.length === 1 ? `-${key}` : `--${key}`);

/** yargs' (English) validation messages as one lower-case sentence naming the flags at fault. */
function usageReason(message: string, args: readonly string[] = []): string {
  const unknown = /^Unknown arguments?: (.*)$/s.exec(message);
  if (unknown) {
    // yargs lists an unknown --foo-bar twice (foo-bar, fooBar): name it once, as it was typed
    const keys = unknown[1]!.split(', ');
    const named = keys.filter((k) => !keys.some((o) => o !== k && camel(o) === k));
    const given = (k: string): boolean => args.some((a) => a === flag(k) || a.startsWith(`${flag(k)}=`) || a === `--no-${k}`);
    const options = named.filter(given).map(flag);
    const positionals = named.filter((k) => !given(k)).map((k) => JSON.stringify(k.replace(/^"|"$/g, '')));
    const parts = [];
    if (options.length) parts.push(`unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')}`);
    if (positionals.length) parts.push(`unexpected argument${positionals.length > 1 ? 's' : ''} ${positionals.join(', ')}`);
    return parts.join('; ');
  }
  if (message.startsWith('Invalid values:')) {
    const bad = message.split('\n').slice(1).map((line) => {
      const m = /Argument: (.+?), Given: (.+), Choices: (.+)$/.exec(line.trim());
      return m ? `${flag(m[1]!)} ${m[2]} is not one of ${m[3]}` : line.trim();
    });
    return bad.join('; ');
  }
  const missing = /^Missing required arguments?: ([^\n]*)(?:\n([\s\S]*))?$/.exec(message);
  if (missing) {
    const keys = missing[1]!.split(', ').map(flag);
    const custom = missing[2] ? `: ${missing[2].split('\n').join('; ')}` : '';
    return `missing required option${keys.length > 1 ? 's' : ''} ${keys.join(', ')}${custom}`;
  }
  const few = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(message);
  if (few) return `missing argument: got ${few[1]}, need at least ${few[2]}`;
  const many = /^Too many non-option arguments: got (\d+), maximum of (\d+)$/.exec(message);
  if (many) return `too many arguments: got ${many[1]}, at most ${many[2]}`;
  const text = message.trim().split(/\s*\n\s*/).join('; ');
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/** Help width: the terminal's (at most 120) on a TTY, else a fixed 100 so piped help is stable. */
export function helpWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? Math.min(120, process.stdout.columns) : 100;
}
