// Per-op wall-clock profile of the compute, switched on with TELECHAT_PROFILE=1: every Backend
// call (and the few named sections outside the Backend, such as the optimizer update) is
// timed, and a table of calls, seconds and share goes to stderr when the process exits.
// Off (the default) profileBackend returns the backend object itself and timeSection calls its
// function directly, so the hot path carries no timer, closure or lookup.
//
// Sections nest (engine.adamw calls the Backend's adamw): a row's seconds are its exclusive
// (self) time, the time inside it minus the time of the timed calls inside it, and a nested
// row is named by its path, `engine.adamw/adamw`. So no time is counted twice: the rows add
// up to the time inside top-level timed calls, and their shares to 100%.
//
// Kernels run synchronously on the calling thread (OpenMP inside), so the wall time of a call
// is the op's cost, argument checks in kernels.ts included.
import type { Backend } from './backend.js';

interface OpStat {
  calls: number;
  ns: bigint;
}

/** One row of the profile: an op (its path when nested, `outer/inner`), its calls and exclusive seconds. */
export interface ProfileRow {
  op: string;
  calls: number;
  seconds: number;
}

/** A timed call in progress: its path and the time of the timed calls inside it so far. */
interface Frame {
  path: string;
  childNs: bigint;
}

/** A profile of timed calls (exported for tests; the process uses `profile` below). */
export class Profile {
  private readonly ops = new Map<string, OpStat>();
  private readonly stack: Frame[] = [];
  private started = process.hrtime.bigint();

  /** Forgets everything so far (e.g. after a warm-up step). Calls in progress still count when they end. */
  reset(): void {
    this.ops.clear();
    this.started = process.hrtime.bigint();
  }

  /** Times fn under `name`, nested under the innermost call in progress. */
  time<T>(name: string, fn: () => T): T {
    const parent = this.stack[this.stack.length - 1];
    const frame: Frame = { path: parent ? `${parent.path}/${name}` : name, childNs: 0n };
    this.stack.push(frame);
    const t0 = process.hrtime.bigint();
    try {
      return fn();
    } finally {
      const ns = process.hrtime.bigint() - t0;
      this.stack.pop();
      if (parent) parent.childNs += ns;
      this.record(frame.path, ns - frame.childNs);
    }
  }

  /** Rows slowest first. */
  rows(): ProfileRow[] {
    return [...this.ops.entries()]
      .map(([op, v]) => ({ op, calls: v.calls, seconds: Number(v.ns) / 1e9 }))
      .sort((a, b) => b.seconds - a.seconds);
  }

  private record(name: string, ns: bigint): void {
    const s = this.ops.get(name);
    if (s) {
      s.calls++;
      s.ns += ns;
    } else {
      this.ops.set(name, { calls: 1, ns });
    }
  }

  /** The table, slowest op first, with totals; exclusive times in seconds, shares of the timed total. */
  table(): string {
    const rows = this.rows();
    const timed = rows.reduce((s, r) => s + r.seconds, 0);
    const wall = Number(process.hrtime.bigint() - this.started) / 1e9;
    const lines = [
      `TELECHAT_PROFILE: ${timed.toFixed(3)} s in timed ops of ${wall.toFixed(3)} s since the profile started ` +
        '(self time: a nested op, outer/inner, is not counted in its outer op)',
      `${'op'.padEnd(28)} ${'calls'.padStart(7)} ${'self s'.padStart(9)} ${'ms/call'.padStart(9)} ${'share'.padStart(6)}`,
    ];
    for (const r of rows) {
      lines.push(`${r.op.padEnd(28)} ${String(r.calls).padStart(7)} ${r.seconds.toFixed(3).padStart(9)} ${((1000 * r.seconds) / r.calls).toFixed(3).padStart(9)} ${((100 * r.seconds) / timed).toFixed(1).padStart(5)}%`);
    }
    return lines.join('\n') + '\n';
  }
}

function enabled(): boolean {
  const v = process.env.TELECHAT_PROFILE;
  return v !== undefined && v !== '' && v !== '0';
}

/** The process-wide profile, or null when TELECHAT_PROFILE is off. */
export const profile: Profile | null = enabled() ? new Profile() : null;

if (profile) {
  const p = profile;
  process.on('exit', () => process.stderr.write(p.table()));
}

/** `be` itself when profiling is off; otherwise a Backend whose every op is timed under its name. */
export function profileBackend(be: Backend): Backend {
  const p = profile;
  if (!p) return be;
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(be)) {
    if (typeof value !== 'function') {
      wrapped[name] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]): unknown => p.time(name, () => fn.apply(be, args));
  }
  return wrapped as unknown as Backend;
}

/** Runs fn, timed under `name` when profiling is on (work that does not go through a Backend). */
export function timeSection<T>(name: string, fn: () => T): T {
  const p = profile;
  return p ? p.time(name, fn) : fn();
}
