// Stopping a run cleanly on SIGINT / SIGTERM (Ctrl-C, Slurm preemption, the launcher forwarding
// either). The first signal asks for a stop: every rank finishes its current step, the ranks
// agree on that step through one all-reduce of the flag (a signal may reach one rank only, or
// ranks at different steps), save a checkpoint there and exit with 128 + the signal's number.
// A second signal kills at once: once a short window has passed the handlers are removed, so
// the signal's default action applies even inside a long native call. Within the window a
// repeat is taken as the same event (Slurm signals every process of a job and a launcher also
// forwards what it receives, so one preemption can reach a rank twice).
import type { Communicator } from '../distributed/communicator.js';
import { signalNumber } from '../distributed/signals.js';
import { DType, MemCategory, alloc, type Device } from '../native/tensor.js';

/** Repeats closer than this to the first signal are the same stop request. */
export const REPEAT_WINDOW_MS = 1000;

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

function signalName(n: number): NodeJS.Signals {
  return SIGNALS.find((s) => signalNumber(s) === n) ?? 'SIGTERM';
}

export class StopRequest {
  /** The first signal received, or null. */
  signal: NodeJS.Signals | null = null;
  private at = 0;
  private readonly handler = (sig: NodeJS.Signals): void => this.onSignal(sig);

  /** `onFirst` is told about the first signal (say that the run will stop after this step). */
  constructor(private readonly onFirst: (sig: NodeJS.Signals) => void = () => {}) {
    for (const s of SIGNALS) process.on(s, this.handler);
  }

  private onSignal(sig: NodeJS.Signals): void {
    if (this.signal === null) {
      this.signal = sig;
      this.at = Date.now();
      this.onFirst(sig);
      setTimeout(() => this.arm(), REPEAT_WINDOW_MS).unref();
      return;
    }
    if (Date.now() - this.at < REPEAT_WINDOW_MS) return;
    this.dispose();
    process.kill(process.pid, sig); // default action: die by the signal now
  }

  /** Past the window, a further signal takes its default action directly (no event loop needed). */
  arm(): void {
    if (this.signal !== null && Date.now() - this.at >= REPEAT_WINDOW_MS) this.dispose();
  }

  /**
   * Before a long synchronous stretch (the stop's save): waits out the rest of the window, then
   * removes the handlers, so a further signal ends the process even while the save runs.
   */
  async settle(): Promise<void> {
    if (this.signal === null) return;
    const left = this.at + REPEAT_WINDOW_MS - Date.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    this.dispose();
  }

  dispose(): void {
    for (const s of SIGNALS) process.off(s, this.handler);
  }
}

/**
 * A stop the ranks agreed on before their first step (a signal while the engine was built and
 * the weights loaded): the start is undone, and the process exits 128 + the signal's number, as
 * a stop after a step does.
 */
export class StoppedBeforeStart extends Error {
  override name = 'StoppedBeforeStart';
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal} before the first step: the start is undone (an earlier run --overwrite set aside is put back)`);
  }
}

/** Lets pending signal handlers and timers run (the training loop is otherwise synchronous). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Collective: the signal any rank received (the highest number if they differ), or null. Every
 * rank calls it once per step, so all stop after the same step.
 */
export function agreeOnStop(comm: Communicator, device: Device, local: NodeJS.Signals | null): NodeJS.Signals | null {
  const mine = local === null ? 0 : signalNumber(local);
  if (comm.size === 1) return local;
  const buf = alloc(DType.F32, [1], MemCategory.Buffers, device);
  try {
    buf.writeFloat32(new Float32Array([mine]));
    comm.allReduce(buf, 'max');
    const n = buf.toFloat32()[0]!;
    return n > 0 ? signalName(n) : null;
  } finally {
    buf.free();
  }
}
