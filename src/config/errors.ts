// One error type for every configuration problem. The message is the whole story: it names
// the file (or --set flag) and the dotted key at fault, so the CLI prints it as one sentence.
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Non-fatal notes gathered while loading (legacy forms, ignored keys); the CLI prints them. */
export type Warnings = string[];

/** Names the config in messages when `telechat-train` runs without --config (every default). */
export const NO_CONFIG = 'no --config given';

/** JSON.stringify that keeps the value short enough for an error line (NaN and Infinity as such, not null). */
export function show(value: unknown): string {
  const s = value === undefined ? 'nothing' : typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}
