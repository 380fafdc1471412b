// Streaming an answer whose end may be a stop string (52B's "<_end>", which is text there):
// text is released as it is decoded, except a tail that could still become a stop string
// or is an incomplete UTF-8 character (decoded as U+FFFD until its last byte arrives).
export class StopFilter {
  private shown = 0;
  /** The answer so far, cut before a stop string once one appeared. */
  text = '';
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Takes the whole decoded answer so far; returns the newly releasable text. */
  update(decoded: string): string {
    if (this.stopped) return '';
    const hits = this.stops.map((s) => decoded.indexOf(s)).filter((i) => i >= 0);
    if (hits.length) {
      this.stopped = true;
      this.text = decoded.slice(0, Math.min(...hits));
      return this.release(this.text.length);
    }
    this.text = decoded;
    return this.release(decoded.length - this.heldBack(decoded));
  }

  /** At the end of generation: whatever was held back. */
  flush(): string {
    return this.release(this.text.length);
  }

  private release(upTo: number): string {
    if (upTo <= this.shown) return '';
    const out = this.text.slice(this.shown, upTo);
    this.shown = upTo;
    return out;
  }

  private heldBack(text: string): number {
    let keep = 0;
    for (const s of this.stops) for (let n = Math.min(s.length - 1, text.length); n > keep; n--) if (text.endsWith(s.slice(0, n))) keep = n;
    if (text.endsWith('\uFFFD')) keep = Math.max(keep, 1);
    return keep;
  }
}
