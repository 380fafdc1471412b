// A rank started by telechat-launch stops when its launcher dies (kill -9, OOM killer), instead
// of training on unsupervised. Node has no parent-death signal, so a timer checks that the
// launcher (TELECHAT_LAUNCHER_PID, our parent) is still our parent: on Linux /proc/self/stat
// gives the current parent (a dead parent's children are re-parented), elsewhere a kill(pid, 0)
// probe. The timer fires whenever the event loop turns; the trainer yields once per step.
import { readFileSync } from 'node:fs';

const POLL_MS = 500;

/** Our current parent pid (process.ppid is fixed at start-up), or null where /proc is missing. */
function currentParent(): number | null {
  try {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Calls `onGone(pid)` once the launcher is gone; no-op when not started by telechat-launch. */
export function watchLauncher(onGone: (pid: number) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  const raw = env.TELECHAT_LAUNCHER_PID;
  if (raw === undefined || !/^\d+$/.test(raw)) return () => {};
  const pid = Number(raw);
  const direct = currentParent() === pid; // a wrapper (a shell, say) may sit between us
  const timer = setInterval(() => {
    const parent = direct ? currentParent() : null;
    if ((parent !== null && parent !== pid) || !alive(pid)) {
      clearInterval(timer);
      onGone(pid);
    }
  }, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
