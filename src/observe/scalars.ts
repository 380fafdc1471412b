// A scalar as DeepSpeed's monitors take it: (tag, value, x), where x is the global step the
// value belongs to (global samples for DeepSpeed's own `Train/Samples/*` tags, the optimizer
// step for ours).

export interface ScalarEvent {
  tag: string;
  value: number;
  x: number;
}

/** Which scalars of an earlier segment survive a resume (x at or before the resume point). */
export type KeepScalar = (tag: string, x: number) => boolean;
