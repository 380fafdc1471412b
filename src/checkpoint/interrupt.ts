// An export stopped by Ctrl-C or SIGTERM must not leave its temporary behind (a hidden sibling of
// the output, as large as the output). The writers register their temporaries here while they
// exist; a command that runs an export through `runInterruptible` removes the ones still there
// when SIGINT, SIGTERM or SIGHUP arrives and exits 130 / 143 / 129.
//
// The exports are synchronous, and Node runs a signal handler only when its event loop turns:
// they are written as steps (generators that yield between tensors), which `drain` runs straight
// through for library callers and `runInterruptible` runs letting the loop turn between steps.
import { rmSync } from 'node:fs';

/** A long synchronous job that yields between its steps and returns its result. */
export type Steps<T> = Generator<void, T, void>;

const temporaries = new Set<string>();

export function registerTemporary(path: string): void {
  temporaries.add(path);
}

export function releaseTemporary(path: string): void {
  temporaries.delete(path);
}

/** Runs `steps` to the end without yielding to the event loop. */
export function drain<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

// SIGHUP too: a dropped ssh session would otherwise leave a temporary as large as the output
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const EXIT_STATUS: Record<(typeof SIGNALS)[number], number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Until the returned function is called, SIGINT, SIGTERM or SIGHUP runs `cleanUp` and ends the
 * process with 130, 143 or 129: what a command does when stopped before it has written anything.
 */
export function onInterrupt(cleanUp: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    cleanUp(signal);
    process.exit(EXIT_STATUS[signal as (typeof SIGNALS)[number]] ?? 143);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

/**
 * Runs `steps`, letting signals in between them: on SIGINT, SIGTERM or SIGHUP the registered
 * temporaries are removed, `onSignal` is told (to say so in one line) and the process exits
 * (onInterrupt).
 */
export async function runInterruptible<T>(steps: Steps<T>, onSignal: (signal: NodeJS.Signals) => void): Promise<T> {
  const release = onInterrupt((signal) => {
    for (const path of temporaries) rmSync(path, { recursive: true, force: true });
    onSignal(signal);
  });
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    release();
  }
}
