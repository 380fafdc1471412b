// The exact command that continues an interrupted run: the command line that started it (the
// launcher's when there is one; telechat-launch passes its argv in TELECHAT_LAUNCH_ARGV) with
// --overwrite and any --resume replaced by `--resume auto`, which picks up OUTPUT/latest, run
// from the same directory (relative paths in it stay right).
import { shellQuote } from '../distributed/launcher.js';

/** Removes --overwrite / --resume [X] (either spelling) from telechat-train's arguments, adds --resume auto. */
export function resumeArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--overwrite' || a.startsWith('--overwrite=') || a === '--no-overwrite') continue;
    if (a.startsWith('--resume=')) continue;
    if (a === '--resume') {
      if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) i++;
      continue;
    }
    out.push(a);
  }
  return [...out, '--resume', 'auto'];
}

/**
 * argv: this process's (node, script, args...); launcherArgv: the launcher's, whose command
 * after the first "--" is telechat-train's.
 */
export function resumeCommand(argv: string[], launcherArgv: string[] | null, cwd: string = process.cwd()): string {
  let words: string[];
  if (launcherArgv !== null && launcherArgv.includes('--')) {
    const sep = launcherArgv.indexOf('--');
    // the program (e.g. `telechat-train`, or `node dist/cli/train.js`) ends before its first option
    let first = sep + 1;
    while (first < launcherArgv.length && !launcherArgv[first]!.startsWith('-')) first++;
    words = [...launcherArgv.slice(0, first), ...resumeArgs(launcherArgv.slice(first))];
  } else {
    words = [...argv.slice(0, 2), ...resumeArgs(argv.slice(2))];
  }
  return `cd ${shellQuote(cwd)} && ${words.map(shellQuote).join(' ')}`;
}

/** The launcher's argv from the environment, or null when started directly. */
export function launcherArgvFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | null {
  const raw = env.TELECHAT_LAUNCH_ARGV;
  if (raw === undefined || raw === '') return null;
  try {
    const v: unknown = JSON.parse(raw);
    return Array.isArray(v) && v.every((w) => typeof w === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}
