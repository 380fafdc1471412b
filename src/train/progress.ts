// A one-line progress bar for terminals: step/total, loss, lr, tokens/s, ETA, and the latest
// eval loss once an evaluation has run. Lines the run prints meanwhile go above it (around).
export class ProgressBar {
  private readonly start = Date.now();
  private evalLoss: number | null = null;
  /** The values last drawn, while the bar is on screen (after an update, before finish). */
  private shown: { step: number; loss: number; lr: number; tokensPerS: number } | null = null;

  constructor(
    private readonly total: number,
    private readonly first: number,
    private readonly out: NodeJS.WriteStream,
  ) {}

  update(step: number, loss: number, lr: number, tokensPerS: number): void {
    this.shown = { step, loss, lr, tokensPerS };
    this.out.write(this.render());
  }

  private render(): string {
    const { step, loss, lr, tokensPerS } = this.shown!;
    const width = 24;
    const done = Math.min(1, step / this.total);
    const filled = Math.round(done * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const perStep = elapsed / Math.max(1, step - this.first);
    const eta = Math.max(0, (this.total - step) * perStep);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const evalPart = this.evalLoss === null ? '' : `  eval ${this.evalLoss.toFixed(4)}`;
    return `\r[${bar}] ${step}/${this.total}  loss ${loss.toFixed(4)}${evalPart}  lr ${lr.toExponential(2)}  ${tokensPerS.toFixed(0)} tok/s  ETA ${formatSeconds(eta)}   `;
  }

  /**
   * Prints a line (the log, to the same terminal) while the bar may be drawn: the bar's line is
   * erased first and the bar drawn again below, so the line is not glued onto the bar's end.
   */
  around(print: () => void): void {
    if (this.shown === null) return print();
    this.out.write('\r\x1b[2K');
    print();
    this.out.write(this.render());
  }

  /** Called by the evaluation loop after each evaluation; shown from the next drawing on. */
  setEvalLoss(loss: number): void {
    this.evalLoss = loss;
  }

  /** Ends the bar's line (once; nothing when it is not drawn). */
  finish(): void {
    if (this.shown === null) return;
    this.out.write('\n');
    this.shown = null;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
