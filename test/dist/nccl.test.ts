// The NCCL communicator without a GPU. A stand-in libnccl.so.2 (nccl_fake/fake_nccl.cc) exports
// every symbol we resolve and logs each call, so these tests prove the loader, the unique-id
// exchange through the store between two real processes, the ranks given to ncclCommInitRank,
// the dtype / reduce-op mapping, NCCL's error strings in our errors, the argument checks, and
// (nccl_fake/async_check.cc: nccl_async.cc over host stand-ins for the stream/event calls) the
// stream/event ordering, polling, timeout and abort logic. Real collectives on a GPU:
// scripts/device/nccl_check.mjs (a stage of check_cuda.sh).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { addon, NCCL_FUNCTION_NAMES, type NcclFunctions } from '../../src/native/addon.js';
import { CommDType } from '../../src/distributed/communicator.js';
import { NcclCommunicator } from '../../src/distributed/nccl.js';
import { DType, INT32, Tensor } from '../../src/native/tensor.js';
import { freePort, repoRoot, runLauncher, workersDir } from './helpers.js';

const hasGpuNode = existsSync('/dev/nvidiactl');
const nodeBase = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/nonexistent' };


describe('NCCL loader', () => {
  it('reports "NCCL not found, looked in: ..." naming every candidate', () => {
    // A child process, so the variables are in its environment when the loader reads them.
    const script = `const { addon } = await import(process.env.ADDON_JS);
      try { const i = addon.ncclProbe(); console.log('FOUND ' + i.path); } catch (e) { console.log(e.message); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot, encoding: 'utf8',
      env: { ...process.env, ADDON_JS: `${repoRoot}/dist/native/addon.js`, TELECHAT_NCCL_PATH: '/opt/nowhere/nccl',
        LD_LIBRARY_PATH: '/opt/ld-a:/opt/ld-b' },
    });
    if (out.startsWith('FOUND')) throw new Error(`this machine has NCCL (${out.trim()}); the not-found check needs one without`);
    expect(out).toContain('NCCL not found, looked in: /opt/nowhere/nccl, /opt/ld-a/libnccl.so.2, /opt/ld-b/libnccl.so.2, ');
    expect(out).toContain('nvidia/nccl/lib/libnccl.so.2');
    expect(out).toContain('(set TELECHAT_NCCL_PATH to libnccl.so.2 or its directory)');
  });

  it('the communicator bindings exist exactly in CUDA builds', () => {
    const exported = NCCL_FUNCTION_NAMES.filter((k) => typeof (addon as unknown as Record<string, unknown>)[k] === 'function');
    expect(exported).toEqual(addon.buildInfo().cuda ? [...NCCL_FUNCTION_NAMES] : []);
    // The rest of this file drives them: a build without the CUDA part fails here, CI or not.
    expect(addon.buildInfo().cuda, 'this file needs the CUDA part of the addon (nvcc at build time, then `npm run build:native`)').toBe(true);
  });
});

interface LogLine {
  fn: string;
  id?: string;
  nranks?: number;
  rank?: number;
  send?: number;
  recv?: number;
  count?: number;
  dtype?: number;
  op?: number;
  root?: number;
  stream?: number;
}

describe('with a stand-in libnccl.so.2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-nccl-'));
  const lib = join(dir, 'libnccl.so.2');
  const harness = join(dir, 'async_check');
  const src = (...p: string[]) => join(repoRoot, ...p);
  execFileSync('g++', ['-shared', '-fPIC', '-O1', src('test', 'dist', 'nccl_fake', 'fake_nccl.cc'), '-o', lib]);
  execFileSync('g++', ['-std=c++17', '-O1', `-I${src('native', 'src')}`, src('test', 'dist', 'nccl_fake', 'async_check.cc'),
    ...['nccl_comm.cc', 'nccl_async.cc', 'tcp_store.cc'].map((f) => src('native', 'src', 'comm', f)), '-ldl', '-lpthread',
    '-o', harness]);

  let logCount = 0;
  function logDir(): string {
    const d = join(dir, `log-${++logCount}`);
    execFileSync('mkdir', ['-p', d]);
    return d;
  }
  function readLog(d: string, pid?: number): LogLine[] {
    const files = readdirSync(d).filter((f) => pid === undefined || f === `${pid}.jsonl`);
    return files.flatMap((f) => readFileSync(join(d, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine));
  }
  function node(args: string[], env: Record<string, string>): string {
    return execFileSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', env: { ...nodeBase, ...env } });
  }
  function scenario(name: string, env: Record<string, string> = {}): Record<string, unknown> & { trace: string[]; log: LogLine[] } {
    const log = logDir();
    const out = execFileSync(harness, [name], { encoding: 'utf8', env: { TELECHAT_NCCL_PATH: dir, FAKE_NCCL_LOG: log, ...env } });
    return { ...(JSON.parse(out) as Record<string, unknown> & { trace: string[] }), log: readLog(log) };
  }

  it('is found through TELECHAT_NCCL_PATH (file or directory) and LD_LIBRARY_PATH; its version is reported', () => {
    const probe = `const { ncclInfo } = await import('./dist/distributed/nccl.js'); console.log(JSON.stringify(ncclInfo()))`;
    const args = ['--input-type=module', '-e', probe];
    expect(JSON.parse(node(args, { TELECHAT_NCCL_PATH: lib }))).toEqual({ path: lib, version: 21903 });
    expect(JSON.parse(node(args, { TELECHAT_NCCL_PATH: dir }))).toEqual({ path: lib, version: 21903 });
    expect(JSON.parse(node(args, { LD_LIBRARY_PATH: `/opt/none:${dir}` }))).toEqual({ path: lib, version: 21903 });
    // Older than 2.10 (no bf16 / avg; 2.8.4 is code 2804): refused by name.
    const old = `const { ncclInfo } = await import('./dist/distributed/nccl.js'); try { ncclInfo() } catch (e) { console.log(e.message) }`;
    expect(node(['--input-type=module', '-e', old], { TELECHAT_NCCL_PATH: dir, FAKE_NCCL_VERSION: '2804' }).trim())
      .toBe(`NCCL at ${lib} is version code 2804; need NCCL >= 2.10 (bf16 and avg)`);
  });

  it('two ranks: rank 0 creates the id, rank 1 gets the same 128 bytes through the store; sub-groups get their own', async () => {
    const log = logDir();
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', process.execPath,
      join(workersDir, 'nccl_ranks.mjs')], { TELECHAT_NCCL_PATH: dir, FAKE_NCCL_LOG: log });
    if (r.code !== 0) throw new Error(`launcher exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
    const ranks = r.stdout.split('\n').filter((l) => l.includes('NCCL_RANK '))
      .map((l) => JSON.parse(l.slice(l.indexOf('NCCL_RANK ') + 10)) as { rank: number; pid: number; subRank: number; subSize: number; error: string | null })
      .sort((a, b) => a.rank - b.rank);
    expect(ranks.map((x) => x.rank)).toEqual([0, 1]);
    const [l0, l1] = ranks.map((x) => readLog(log, x.pid));
    const fns = (l: LogLine[]) => l.map((x) => x.fn);
    // world: rank 0 makes the id; sub-group [1, 0]: world rank 1 is its rank 0 and makes that id.
    expect(fns(l0)).toEqual(['ncclGetUniqueId', 'ncclCommInitRank', 'ncclCommInitRank', 'ncclCommDestroy', 'ncclCommDestroy']);
    expect(fns(l1)).toEqual(['ncclCommInitRank', 'ncclGetUniqueId', 'ncclCommInitRank', 'ncclCommDestroy', 'ncclCommDestroy']);
    const worldId = l0[0].id!;
    const subId = l1[1].id!;
    expect(worldId).toMatch(/^[0-9a-f]{256}$/);
    expect(subId).toMatch(/^[0-9a-f]{256}$/);
    expect(subId).not.toBe(worldId);
    expect(l0[1]).toEqual({ fn: 'ncclCommInitRank', nranks: 2, rank: 0, id: worldId });
    expect(l1[0]).toEqual({ fn: 'ncclCommInitRank', nranks: 2, rank: 1, id: worldId });
    expect(l1[2]).toEqual({ fn: 'ncclCommInitRank', nranks: 2, rank: 0, id: subId });
    expect(l0[2]).toEqual({ fn: 'ncclCommInitRank', nranks: 2, rank: 1, id: subId });
    expect(ranks.map((x) => [x.subRank, x.subSize])).toEqual([[1, 2], [0, 2]]);
    for (const x of ranks) {
      if (hasGpuNode) expect(x.error).toBeNull();
      // No driver: the stream is made at the first collective, and that is where it fails, by name.
      else expect(x.error).toMatch(new RegExp(`^allReduce failed on rank ${x.rank} \\(group of 2, timeout 5000 ms\\): ` +
        'creating the communication stream: CUDA error \\d+ \\(.+\\)$'));
    }
  });

  it('argument checks refuse bad calls by name before NCCL or CUDA sees them; a single process needs no store', () => {
    const log = logDir();
    const out = JSON.parse(node([join(workersDir, 'nccl_args.mjs')], { TELECHAT_NCCL_PATH: dir, FAKE_NCCL_LOG: log })) as Record<string, string | null>;
    const gloo = 'pad the flat buffer to a multiple of the group size, see paddedLength)';
    expect(out).toMatchObject({
      'allReduce host tensor': 'allReduce: buf is a cpu buffer; the NCCL communicator needs CUDA device buffers (use Gloo for host memory)',
      'allGather host output': 'allGather: output is a cpu buffer; the NCCL communicator needs CUDA device buffers (use Gloo for host memory)',
      'avg on int32': 'allReduce: avg is not defined for int32',
      'reduceScatter avg int32': 'reduceScatter: avg is not defined for int32',
      'reduceScatter lengths': `reduceScatter: 5 elements where 4 are needed (group of 1; ${gloo}`,
      'allGather dtypes': 'allGather: input and output dtypes differ',
      'allGather overlap': 'allGather: input and output must not overlap',
      'broadcast root': 'broadcast: root 1 outside group of 1',
      'newGroup duplicate': 'newGroup: rank 0 listed twice',
      'newGroup outside': 'newGroup: rank 1 outside group of 1',
      'newGroup empty': 'newGroup: empty rank list',
      'gloo refuses a cuda tensor': 'allReduce: buf is a cuda buffer; the Gloo communicator needs host buffers (use NCCL for CUDA memory)',
      'initDistributed device name': `initDistributed: device must be 'cpu' or 'cuda', got "gpu"`,
      'newGroup [0]': null,
      'after destroy': "communicator 'world' was destroyed",
    });
    if (hasGpuNode) {
      expect(out['valid allReduce']).toBeNull();
    } else {
      expect(out['initDistributed cuda']).toBe('selectCudaDevice: no GPU is visible');
      expect(out['valid allReduce']).toMatch(/^allReduce failed on rank 0 \(group of 1, timeout 1000 ms\): creating the communication stream: CUDA error \d+/);
    }
    // Only set-up reached the library: world (size 1, id made locally) and its sub-group world.1.
    const calls = readLog(log);
    expect(calls.map((c) => c.fn)).toEqual(['ncclGetUniqueId', 'ncclCommInitRank', 'ncclGetUniqueId', 'ncclCommInitRank',
      'ncclCommDestroy', 'ncclCommDestroy']);
    expect(calls[1]).toMatchObject({ nranks: 1, rank: 0, id: calls[0].id });
    expect(calls[3]).toMatchObject({ nranks: 1, rank: 0, id: calls[2].id });
  });

  it("ncclCommInitRank's failure surfaces with NCCL's own error string", () => {
    const script = `const { NcclCommunicator } = await import('./dist/distributed/nccl.js');
      try { new NcclCommunicator(null, 'world', 0, 1, 1000, 1000); console.log('created'); } catch (e) { console.log(e.message); }`;
    const out = node(['--input-type=module', '-e', script], { TELECHAT_NCCL_PATH: dir, FAKE_NCCL_INIT_RESULT: '3' });
    expect(out.trim()).toBe("NCCL group 'world' rank 0 of 1: ncclCommInitRank: fake-nccl: internal error");
  });

  it('maps every collective, dtype and reduce op to NCCL, on the communicator stream', () => {
    const r = scenario('ops');
    const stream = Number(r.comm_stream);
    expect(stream).toBeGreaterThan(0);
    const nccl = { dtype: { 0: 7, 1: 9, 2: 6, 3: 2 } as Record<number, number>, op: { 0: 0, 1: 4, 2: 2 } as Record<number, number> };
    const expected: LogLine[] = [];
    const fnOf = ['ncclAllReduce', 'ncclReduceScatter', 'ncclAllGather', 'ncclBroadcast'];
    for (let op = 0; op <= 3; op++) {
      for (let dt = 0; dt <= 3; dt++) {
        for (let red = 0; red <= (op < 2 ? 2 : 0); red++) {
          if (red === 1 && dt === 3) continue;  // avg on int32: refused, never enqueued
          expected.push({ fn: fnOf[op], send: op === 3 ? 0x2000 : 0x1000, recv: 0x2000, count: 7, dtype: nccl.dtype[dt],
            op: op < 2 ? nccl.op[red] : -1, root: op === 3 ? 0 : -1, rank: 0, stream });
        }
      }
    }
    const collectives = r.log.filter((c) => c.fn !== 'ncclGetUniqueId' && c.fn !== 'ncclCommInitRank' && c.fn !== 'ncclCommDestroy');
    const barriers = collectives.slice(expected.length);
    expect(collectives.slice(0, expected.length)).toEqual(expected);
    // barrier (4 dtypes asked): a one-int32 sum all-reduce in place on a 4-byte device scratch.
    expect(barriers).toHaveLength(4);
    for (const b of barriers) expect(b).toMatchObject({ fn: 'ncclAllReduce', count: 1, dtype: 2, op: 0, stream, send: barriers[0].send, recv: barriers[0].send });
    expect(r.trace.filter((t) => t.startsWith('alloc'))).toEqual(['alloc 4']);
    expect(r.errors).toEqual([
      'allReduce failed on rank 0 (group of 1, timeout 1000 ms): avg is not defined for int32 (use sum and divide)',
      'reduceScatter failed on rank 0 (group of 1, timeout 1000 ms): avg is not defined for int32 (use sum and divide)',
    ]);
    expect(r.log.at(-1)!.fn).toBe('ncclCommDestroy');
  });

  it('orders the comm stream after the legacy stream, the legacy stream after the result, and never blocks at submit', () => {
    const r = scenario('order');
    // is_done, poll, poll while pending; is_done, poll after the "GPU" finished.
    expect(r.flags).toEqual([false, false, false, true, true]);
    expect(r.trace).toEqual([
      'stream_create comm',   // lazily, at the first collective
      'record e0 on legacy',  // everything queued before ...
      'wait comm on e0',      // ... happens before the collective
      'record e1 on comm',    // completion event after it
      '-- submitted',         // submit returned without waiting
      'wait legacy on e1',    // the first poll makes later compute wait for the result (once)
      '-- done',
      'alloc 4',              // the barrier's scratch, at the first barrier
      'record e0 on legacy', 'wait comm on e0', 'record e2 on comm', 'wait legacy on e2',
      'event_destroy e1', 'event_destroy e2', 'event_destroy e0', 'stream_destroy comm',
    ]);
    expect(r.log.filter((c) => c.fn === 'ncclAllReduce').map((c) => [c.dtype, c.count])).toEqual([[9, 5], [2, 1]]);
  });

  it('a collective that never completes times out, aborts the communicator and names the op, rank, group and timeout', () => {
    const r = scenario('timeout');
    expect(r.error).toBe('allReduce failed on rank 0 (group of 1, timeout 150 ms): timed out (not complete within 150 ms; ' +
      'a peer may be dead, stuck or not calling this collective); the communicator was aborted');
    // The deadline counts from submit; the poll sleeps at most 1 ms, so 150..(150 + scheduling slack).
    expect(Number(r.waited_ms)).toBeGreaterThanOrEqual(149);
    expect(Number(r.waited_ms)).toBeLessThan(1500);
    expect(r.is_done_after).toBe(true);
    expect(String(r.next_error)).toMatch(/^broadcast failed on rank 0 \(group of 1, timeout 1000 ms\): the communicator was aborted after an earlier failure \(timed out/);
    expect(r.log.map((c) => c.fn)).toEqual(['ncclGetUniqueId', 'ncclCommInitRank', 'ncclAllReduce', 'ncclCommAbort']);
  });

  it("an asynchronous NCCL error (a peer died) ends the wait at once with NCCL's error string", () => {
    const r = scenario('async_error');
    expect(r.first_poll).toBe(false);
    expect(r.error).toBe('reduceScatter failed on rank 0 (group of 1, timeout 60000 ms): NCCL error: ' +
      'fake-nccl: remote process exited or there was a network error; the communicator was aborted');
    expect(Number(r.waited_ms)).toBeLessThan(1000);  // not the 60 s timeout
    expect(r.log.at(-1)!.fn).toBe('ncclCommAbort');
    expect(r.log.find((c) => c.fn === 'ncclReduceScatter')).toMatchObject({ dtype: 6, op: 2 });
  });

  it('CUDA and NCCL errors at submit name the op and carry the library text', () => {
    expect(scenario('cuda_error').error).toBe('allGather failed on rank 0 (group of 1, timeout 1000 ms): creating the ' +
      'communication stream: CUDA error 100 (fake-cuda: no CUDA-capable device is detected)');
    expect(scenario('enqueue_error', { FAKE_NCCL_COLL_RESULT: '5' }).error)
      .toBe('allReduce failed on rank 0 (group of 1, timeout 1000 ms): ncclAllReduce: fake-nccl: invalid usage');
  });
});

describe('NcclCommunicator over recorded native calls', () => {
  // A recorder for the NCCL bindings: checks the codes and counts TypeScript passes (padding
  // contract), and the handle's waiting, without a GPU.
  function recorder(pollsUntilDone: number) {
    const calls: [string, unknown[]][] = [];
    let polls = 0;
    let works = 100;
    const n: NcclFunctions = {
      ncclCommCreate: (...a) => (calls.push(['create', a]), 7),
      ncclCommDestroy: (...a) => void calls.push(['destroy', a]),
      ncclCommSubmit: (...a) => (calls.push(['submit', a]), ++works),
      ncclWorkWait: (...a) => void calls.push(['wait', a]),
      ncclWorkPoll: (...a) => (calls.push(['poll', a]), ++polls >= pollsUntilDone),
      ncclWorkIsDone: () => polls >= pollsUntilDone,
    };
    return { n, calls };
  }
  const dev = (type: number, numel: number, ptr: number) => new Tensor(ptr, type as DType, [numel], false, 'cuda');

  it('passes op, dtype, reduce-op codes, per-rank counts, pointers and timeouts in the order of the binding', () => {
    const { n, calls } = recorder(1);
    const c = new NcclCommunicator(null, 'w', 2, 4, 500, 900, n);
    c.allReduce(dev(DType.BF16, 10, 0x1000), 'avg');
    c.reduceScatter(dev(DType.F32, 12, 0x1000), dev(DType.F32, 3, 0x9000), 'max', { timeoutMs: 42 });
    c.allGather(dev(INT32, 3, 0x1000), dev(INT32, 12, 0x9000));
    c.broadcast({ ptr: 0x5000, numel: 6, dtype: CommDType.F16 }, 3);
    c.barrier();
    c.destroy();
    expect(calls).toEqual([
      ['create', [-1, 'w', 2, 4, 900]],
      ['submit', [7, 0, 1, 1, 0x1000, 0x1000, 10, 0, 500]], ['wait', [101]],
      ['submit', [7, 1, 0, 2, 0x1000, 0x9000, 3, 0, 42]], ['wait', [102]],
      ['submit', [7, 2, 3, 0, 0x1000, 0x9000, 3, 0, 500]], ['wait', [103]],
      ['submit', [7, 3, 2, 0, 0x5000, 0x5000, 6, 3, 500]], ['wait', [104]],
      ['submit', [7, 4, 3, 0, 0, 0, 0, 0, 500]], ['wait', [105]],
      ['destroy', [7]],
    ]);
  });

  it('waitAsync polls from the event loop (timers run in between) and settles once', async () => {
    const { n, calls } = recorder(40);
    const c = new NcclCommunicator(null, 'w', 0, 1, 500, 900, n);
    const h = c.allReduceAsync(dev(DType.F32, 4, 0x1000));
    expect(h.isDone()).toBe(false);
    let timerRan = false;
    setTimeout(() => (timerRan = true), 0);
    await h.waitAsync();
    expect(timerRan).toBe(true);  // the loop was free while polling
    expect(h.isDone()).toBe(true);
    expect(calls.filter(([f]) => f === 'poll')).toHaveLength(40);
    h.wait();  // settled: no second native wait
    await h.waitAsync();
    expect(calls.filter(([f]) => f === 'wait' || f === 'poll')).toHaveLength(40);
  });

  it('waitAsync rejects with the native error', async () => {
    const { n } = recorder(1);
    n.ncclWorkPoll = () => { throw new Error('allReduce failed on rank 0 (group of 1, timeout 5 ms): timed out'); };
    const c = new NcclCommunicator(null, 'w', 0, 1, 5, 900, n);
    await expect(c.allReduceAsync(dev(DType.F32, 4, 0x1000)).waitAsync()).rejects.toThrow(/timed out/);
  });
});
