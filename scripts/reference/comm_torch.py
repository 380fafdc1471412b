"""bench:comm, PyTorch side: torch.distributed gloo on the same sizes and process counts.

Started by telechat-launch (env:// rendezvous from RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
Torch 1.13's gloo backend has no reduce_scatter, so "reduceScatter" times what torch users fall
back to: an all_reduce of the same full buffer (each rank then reads its shard); the row says
so ("ran": "allReduce") and bench:comm rates its bus bandwidth as the all_reduce it is.
allGather uses all_gather into views of one output tensor; broadcast is from rank 0. Prints one
JSON line per (op, size) from rank 0, with the process's minor page faults and CPU time
(user + system, all threads) per timed iteration, as our side does, and torch.__version__ and
the intra-op thread count in effect.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.distributed as dist


def main():
    sizes_mb = [float(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "1,4,16,64,256").split(",")]
    # The launcher's MASTER_PORT is where rank 0 hosts torch's TCPStore.
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    for mb in sizes_mb:
        n = int(mb * 2**20 / 4 / world) * world
        full = torch.full((n,), float(rank + 1), dtype=torch.float32)
        chunk = torch.full((n // world,), float(rank + 1), dtype=torch.float32)
        gathered = torch.empty(n, dtype=torch.float32)
        views = list(gathered.split(n // world))
        iters = 3 if mb >= 64 else 5 if mb >= 16 else 10
        # (our op name, the collective torch actually runs for it, call)
        ops = [
            ("allReduce", "allReduce", lambda: dist.all_reduce(full)),
            ("reduceScatter", "allReduce", lambda: dist.all_reduce(full)),  # torch 1.13 gloo fallback
            ("allGather", "allGather", lambda: dist.all_gather(views, chunk)),
            ("broadcast", "broadcast", lambda: dist.broadcast(full, 0)),
        ]
        for op, ran, fn in ops:
            fn()
            # Best of `iters`, each bracketed by barriers (same as our side).
            seconds = float("inf")
            before = resource.getrusage(resource.RUSAGE_SELF)
            for _ in range(iters):
                dist.barrier()
                t0 = time.perf_counter()
                fn()
                dist.barrier()
                seconds = min(seconds, time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_SELF)
            minflt = (after.ru_minflt - before.ru_minflt) / iters
            cpu_ms = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3 / iters
            if rank == 0:
                print(json.dumps({"side": "torch", "op": op, "ran": ran, "ranks": world, "mb": mb, "bytes": n * 4,
                                  "iters": iters, "seconds": seconds, "minflt": minflt, "cpu_ms": cpu_ms,
                                  "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
