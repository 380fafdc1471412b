// A one-line progress bar for terminals: step/total, loss, lr, tokens/s, ETA, and the latest
// eval loss once an evaluation has run.
export class ProgressBar {
  private readonly start = Date.now();
  private evalLoss: number | null = null;

  constructor(
    private readonly total: number,
    private readonly first: number,
    private readonly out: NodeJS.WriteStream,
  ) {}

  update(step: number, loss: number, lr: number, tokensPerS: number): void {
    const width = 24;
    const done = Math.min(1, step / this.total);
    const filled = Math.round(done * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const perStep = elapsed / Math.max(1, step - this.first);
    const eta = Math.max(0, (this.total - step) * perStep);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const evalPart = this.evalLoss === null ? '' : `  eval ${this.evalLoss.toFixed(4)}`;
    this.out.write(`\r[${bar}] ${step}/${this.total}  loss ${loss.toFixed(4)}${evalPart}  lr ${lr.toExponential(2)}  ${tokensPerS.toFixed(0)} tok/s  ETA ${formatSeconds(eta)}   `);
  }

  /** Called by the evaluation loop after each evaluation; shown from the next update on. */
  setEvalLoss(loss: number): void {
    this.evalLoss = loss;
  }

  finish(): void {
    this.out.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
