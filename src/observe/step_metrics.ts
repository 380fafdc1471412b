// One metrics.jsonl object (DESIGN.md "Files"): what the trainer measures per optimizer step and
// the monitors, the report and the planner read. It lives in observe/, which train/ imports
// anyway, so observe/ imports nothing from train/, not even types.
export interface MemoryBytes {
  params: number;
  grads: number;
  master: number;
  optim: number;
  activations: number;
  buffers: number;
}

export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  loss_scale: number;
  tokens: number;
  loss_tokens: number;
  step_time_s: number;
  tokens_per_s: number;
  mfu: number;
  mem: MemoryBytes;
  /** Present when the update was skipped (fp16 overflow or a non-finite loss). */
  skipped?: 'overflow' | 'nonfinite_loss' | 'no_loss_tokens';
}
