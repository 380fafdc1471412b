// yargs for every CLI, with help text wrapped between words. yargs' ESM entry renders help
// through cliui's ESM shim, whose wrap cuts lines every N characters (mid-word: "tokeniz/er");
// its CommonJS entry uses wrap-ansi, which breaks at spaces. Same API, same version.
//
// Usage errors (an unknown option, a value outside the choices, a missing option or argument)
// are one line on stderr, `telechat-X: <reason> (see --help)`, and exit 1: not the whole help
// page followed by yargs' own wording. A CLI that sets its own .fail() replaces this (yargs
// runs the last handler first); such a handler can print usageErrorLine(...) to say the same.
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import type yargsEsm from 'yargs';

const require = createRequire(import.meta.url);
const base = require('yargs') as typeof yargsEsm;

/** yargs, with one-line usage errors (see above). */
export const yargs: typeof yargsEsm = (processArgs, cwd, parentRequire) => {
  const y = base(processArgs, cwd, parentRequire);
  const args = typeof processArgs === 'string' ? processArgs.split(/\s+/) : [...(processArgs ?? [])];
  return y.showHelpOnFail(false).fail((msg: string | null | undefined, err: Error | undefined) => {
    const name = (y as unknown as { $0?: string }).$0 ?? `telechat-${basename(process.argv[1] ?? 'cli', '.js')}`;
    process.stderr.write(usageErrorLine(name, msg || err?.message || 'invalid command line', args) + '\n');
    process.exit(1);
  });
};

/** `NAME: reason (see --help)`, reason being yargs' message reworded as one sentence. */
export function usageErrorLine(name: string, yargsMessage: string, args: readonly string[] = []): string {
  return `${name}: ${usageReason(yargsMessage, args)} (see --help)`;
}

const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const flag = (key: string): string => (key.length === 1 ? `-${key}` : `--${key}`);

/** yargs' (English) validation messages as one lower-case sentence naming the flags at fault. */
export function usageReason(message: string, args: readonly string[] = []): string {
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
