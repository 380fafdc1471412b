// BENCH_* environment variables: a bad value is one error naming the variable, not a NaN run.

/** A positive integer from the environment, `fallback` when unset or empty. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`environment variable ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

/** A comma-separated list of positive integers from the environment. */
export function positiveIntListEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const xs = raw.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`environment variable ${name} must be a comma-separated list of positive integers, got ${JSON.stringify(raw)}`);
  }
  return xs;
}
