// yargs for every CLI, with help text wrapped between words. yargs' ESM entry renders help
// through cliui's ESM shim, whose wrap cuts lines every N characters (mid-word: "tokeniz/er");
// its CommonJS entry uses wrap-ansi, which breaks at spaces. Same API, same version.
import { createRequire } from 'node:module';
import type yargsEsm from 'yargs';

const require = createRequire(import.meta.url);
export const yargs = require('yargs') as typeof yargsEsm;

/** Help width: the terminal's (at most 120) on a TTY, else a fixed 100 so piped help is stable. */
export function helpWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? Math.min(120, process.stdout.columns) : 100;
}
