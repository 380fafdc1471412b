// One error type for every configuration problem. The message is the whole story: it names
// the file (or --set flag) and the dotted key at fault, so the CLI prints it as one sentence.
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Non-fatal notes gathered while loading (legacy forms, ignored keys); the CLI prints them. */
export type Warnings = string[];

/** JSON.stringify that keeps the value short enough for an error line. */
export function show(value: unknown): string {
  const s = value === undefined ? 'nothing' : JSON.stringify(value);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}
