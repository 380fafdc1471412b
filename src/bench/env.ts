// BENCH_* environment variables: a bad value is one error naming the variable, not a NaN run.

/**
 * The command line that reruns `npm run bench:<name>` as this process was started: every BENCH_*
 * variable set (BENCH_ONLY, which only picks benchmarks for `npm run bench`, aside) and
 * TELECHAT_PYTHON, then the script. Each result records it, so its page names what produced it.
 */
export function benchCommand(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const prefix = Object.entries(env)
    .filter(([k]) => (k.startsWith('BENCH_') && k !== 'BENCH_ONLY') || k === 'TELECHAT_PYTHON')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v ?? ''} `)
    .join('');
  return `${prefix}npm run bench:${name}`;
}

/** A positive integer from the environment, `fallback` when unset or empty. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`environment variable ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

/** A comma-separated list of positive finite numbers from the environment (sizes in MB). */
export function positiveNumberListEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const xs = raw.split(',').map((s) => (s.trim() === '' ? NaN : Number(s.trim())));
  if (xs.some((v) => !Number.isFinite(v) || v <= 0)) {
    throw new Error(`environment variable ${name} must be a comma-separated list of positive numbers, got ${JSON.stringify(raw)}`);
  }
  return xs;
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
