// NCCL availability: loads libnccl.so.2 with dlopen (native/src/comm/nccl_comm.cc) and reports
// where it came from, or throws "NCCL not found, looked in: ..." listing every place tried.
import { addon } from '../native/addon.js';

export function ncclInfo(): { path: string; version: number } {
  return addon.ncclProbe();
}
