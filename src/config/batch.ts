// DeepSpeed's batch-size triple: train_batch_size = micro_batch_per_gpu * grad_accum * world.
// Missing members are inferred with DeepSpeed's floor-division rules (deepspeed.md), then
// every member must be > 0 and the equation must hold exactly.
import { ConfigError, NO_CONFIG } from './errors.js';

export interface BatchTriple {
  train_batch_size: number;
  train_micro_batch_size_per_gpu: number;
  gradient_accumulation_steps: number;
}

export function inferBatch(
  batch: number | null,
  micro: number | null,
  gas: number | null,
  worldSize: number,
  where: string,
): BatchTriple {
  const floorDiv = (a: number, b: number): number => Math.floor(a / b);
  if (batch !== null && micro !== null && gas !== null) {
    // all given: only checked
  } else if (batch !== null && micro !== null) {
    gas = floorDiv(floorDiv(batch, micro), worldSize);
  } else if (batch !== null && gas !== null) {
    micro = floorDiv(floorDiv(batch, worldSize), gas);
  } else if (micro !== null && gas !== null) {
    batch = micro * gas * worldSize;
  } else if (batch !== null) {
    gas = 1;
    micro = floorDiv(batch, worldSize);
  } else if (micro !== null) {
    gas = 1;
    batch = micro * worldSize;
  } else if (where === NO_CONFIG) {
    // Only the batch size has no usable default, so this is what running without a config hits.
    throw new ConfigError(
      `${where}: the batch size is missing; give a DeepSpeed config with --config FILE (e.g. configs/zero2.json), or --set train_micro_batch_size_per_gpu=N`,
    );
  } else {
    throw new ConfigError(`${where}: either "train_batch_size" or "train_micro_batch_size_per_gpu" must be given`);
  }
  const named: [string, number][] = [
    ['train_batch_size', batch!],
    ['train_micro_batch_size_per_gpu', micro!],
    ['gradient_accumulation_steps', gas!],
  ];
  for (const [name, v] of named) {
    if (!(v > 0)) {
      throw new ConfigError(
        `${where}: "${name}" resolves to ${v} (must be > 0) from train_batch_size ${show(batch)}, ` +
          `train_micro_batch_size_per_gpu ${show(micro)}, gradient_accumulation_steps ${show(gas)}, world_size ${worldSize}`,
      );
    }
  }
  if (batch !== micro! * gas! * worldSize) {
    throw new ConfigError(
      `${where}: train_batch_size == train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size does not hold: ` +
        `${batch} != ${micro} * ${gas} * ${worldSize} (= ${micro! * gas! * worldSize})`,
    );
  }
  return { train_batch_size: batch!, train_micro_batch_size_per_gpu: micro!, gradient_accumulation_steps: gas! };
}

function show(v: number | null): string {
  return v === null ? 'unset' : String(v);
}
