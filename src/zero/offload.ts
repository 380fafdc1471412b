// ZeRO-Offload. DeepSpeed's offload_optimizer.device "cpu" moves the fp32 master weights, both
// Adam moments and the AdamW step from GPU to host memory (a multi-threaded CPU Adam), and
// offload_param (stage 3) keeps the parameter shards in host memory, fetched per block.
// - On the CPU every tensor already lives in host memory and ShardAdamW is the OpenMP CPU
//   Adam, so both requests are met by the ordinary code path: nothing moves and the results
//   are identical to a run without offload (a test checks this).
// - On a GPU, offload_optimizer is done by ShardAdamW (zero/adamw.ts): state in host memory,
//   gradients copied down and 16-bit weights copied up each step; offload_param by the ZeRO
//   engine (zero_engine.ts): the parameter chunks of sharded stage-3 units live in host memory
//   and are uploaded for each gather (units under the persistence threshold stay on the GPU).
// The trainer logs one line per setting rather than silently ignoring the keys.
import type { ZeroConfig } from '../config/types.js';
import type { Device } from '../native/tensor.js';

/** Log lines for the offload settings that are in effect (none when offload is off). */
export function offloadNotes(zero: ZeroConfig, device: Device = 'cpu'): string[] {
  const notes: string[] = [];
  const optimizer = zero.offload_optimizer.device === 'cpu';
  const param = zero.offload_param.device === 'cpu' && zero.stage === 3;
  if (device === 'cpu') {
    if (optimizer) {
      notes.push('offload_optimizer.device "cpu": already satisfied on the CPU (fp32 master weights, Adam moments and the AdamW step live in host memory; nothing to move)');
    }
    if (param) notes.push('offload_param.device "cpu": already satisfied on the CPU (parameter shards live in host memory and are gathered per block)');
    return notes;
  }
  if (optimizer) {
    notes.push('offload_optimizer.device "cpu": fp32 master weights and Adam moments in host memory, AdamW on the CPU; gradients go down and 16-bit weights come back up every step');
  }
  if (param) notes.push('offload_param.device "cpu": parameter chunks of sharded units in host memory, uploaded for each gather (units under stage3_param_persistence_threshold stay on the GPU)');
  return notes;
}
