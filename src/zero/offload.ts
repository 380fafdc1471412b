// ZeRO-Offload on the CPU build. DeepSpeed's offload_optimizer.device "cpu" moves the fp32
// master weights, both Adam moments and the AdamW step from GPU to host memory (a
// multi-threaded CPU Adam), and offload_param (stage 3) keeps the parameter shards in host
// memory, fetched per block. On this build every tensor already lives in host memory and
// ShardAdamW is the OpenMP CPU Adam, so both requests are met by the ordinary code path:
// nothing is moved and the results are identical to a run without offload (a test checks
// this). The trainer says so once rather than silently ignoring the keys.
import type { ZeroConfig } from '../config/types.js';

/** Log lines for the offload settings that are in effect (none when offload is off). */
export function offloadNotes(zero: ZeroConfig): string[] {
  const notes: string[] = [];
  if (zero.offload_optimizer.device === 'cpu') {
    notes.push('offload_optimizer.device "cpu": already satisfied on the CPU build (fp32 master weights, Adam moments and the AdamW step live in host memory; nothing to move)');
  }
  if (zero.offload_param.device === 'cpu' && zero.stage === 3) {
    notes.push('offload_param.device "cpu": already satisfied on the CPU build (parameter shards live in host memory and are gathered per block)');
  }
  return notes;
}
