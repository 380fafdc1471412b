// The launcher behind telechat-launch: starts one process per local rank, each in its own
// process group, prefixes their output, and fails fast. Like deepspeed/torchrun, a rank that
// exits non-zero or dies by a signal takes the whole job down: the other ranks' process
// groups get SIGTERM, then SIGKILL after a grace period, and the launcher exits with the
// failing rank's status after printing "rank N" and that rank's last stderr lines.
// SIGINT/SIGTERM to the launcher are forwarded to every rank, which finish their step, save a
// checkpoint and exit 128 + signal (src/train/stop.ts); the launcher waits for them and exits
// with their status. A second signal kills the ranks at once. Each rank gets the launcher's pid
// (TELECHAT_LAUNCHER_PID) and stops by itself if the launcher dies (parent_watch.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { signalNumber } from './signals.js';

export const DEFAULT_MASTER_PORT = 29500;
/** Seconds between SIGTERM and SIGKILL when tearing a job down. */
export const DEFAULT_GRACE_SECONDS = 5;
/** How many of a failing rank's last stderr lines are printed. */
const STDERR_TAIL_LINES = 20;
/** Variables forwarded to other nodes over ssh, besides the ones named with --export. */
const FORWARDED_PREFIXES = ['NCCL_', 'TELECHAT_'];

export interface HostEntry {
  host: string;
  slots: number;
}

/**
 * Parses a DeepSpeed hostfile: one `host slots=N` per line, `#` starts a comment, blank lines
 * ignored. Errors name `FILE:LINE`.
 */
export function parseHostfile(text: string, file: string): HostEntry[] {
  const hosts: HostEntry[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `${file}:${i + 1}`;
    const m = /^(\S+)\s+slots\s*=\s*(\d+)$/.exec(line);
    if (!m) throw new Error(`${where}: expected "HOST slots=N", got "${raw.trim()}"`);
    const host = m[1]!;
    const slots = Number(m[2]);
    if (slots < 1) throw new Error(`${where}: slots must be >= 1, got ${slots}`);
    if (seen.has(host)) throw new Error(`${where}: host "${host}" is listed twice`);
    seen.add(host);
    hosts.push({ host, slots });
  });
  if (hosts.length === 0) throw new Error(`${file}: no hosts listed`);
  return hosts;
}

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Global rank of this node's local rank 0 (defaults to nodeRank * nprocPerNode). */
  rankOffset?: number;
  /** Total ranks (defaults to nnodes * nprocPerNode). */
  worldSize?: number;
  command: string[];
  graceSeconds?: number;
  /** Base environment of the ranks (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Stop all ranks when stdin closes. Remote nodes run with this: their stdin is the ssh
   * channel, which closes when the launching node's launcher stops or dies.
   */
  watchStdin?: boolean;
}

/** `env` plus a fresh TELECHAT_RUN_SECRET unless one is set (shared by every node of a run). */
export function withRunSecret(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.TELECHAT_RUN_SECRET) return env;
  return { ...env, TELECHAT_RUN_SECRET: randomBytes(24).toString('hex') };
}

/** Quotes a word for a POSIX shell (used for the ssh command line). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Environment of one rank: the rank variables plus OMP_NUM_THREADS unless set. */
export function rankEnv(
  base: NodeJS.ProcessEnv,
  o: { rank: number; localRank: number; worldSize: number; localWorldSize: number; nodeRank: number;
    masterAddr: string; masterPort: number; secret: string; cores?: number; launcherPid?: number },
): NodeJS.ProcessEnv {
  const cores = o.cores ?? availableParallelism();
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(o.rank),
    LOCAL_RANK: String(o.localRank),
    WORLD_SIZE: String(o.worldSize),
    LOCAL_WORLD_SIZE: String(o.localWorldSize),
    NODE_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
    TELECHAT_RUN_SECRET: o.secret,
  };
  if (o.launcherPid !== undefined) env.TELECHAT_LAUNCHER_PID = String(o.launcherPid);
  if (base.OMP_NUM_THREADS === undefined || base.OMP_NUM_THREADS === '') {
    env.OMP_NUM_THREADS = String(Math.max(1, Math.floor(cores / o.localWorldSize)));
  }
  return env;
}

export interface RemoteNode {
  host: string;
  nodeRank: number;
  /** argv of the ssh process (ssh HOST 'read secret; cd DIR && env K=V ... telechat-launch ...'). */
  argv: string[];
  /**
   * Written to ssh's stdin: the run secret, kept off command lines (visible in ps). The stream
   * then stays open; its closing tells the remote launcher to stop.
   */
  stdin: string;
}

/**
 * Plans a hostfile launch: this machine runs node 0 (the first host); the other nodes are
 * started over ssh with the forwarded variables. Pure so tests can check it.
 */
export function planHostfileLaunch(
  hosts: HostEntry[],
  o: { masterAddr?: string; masterPort: number; command: string[]; env: NodeJS.ProcessEnv; exportNames: string[];
    cwd: string; launcherArgv: string[] },
): { local: LaunchOptions; remotes: RemoteNode[] } {
  const worldSize = hosts.reduce((s, h) => s + h.slots, 0);
  const masterAddr = o.masterAddr ?? hosts[0]!.host;
  const forwarded = Object.keys(o.env)
    .filter((k) => k !== 'TELECHAT_RUN_SECRET')
    .filter((k) => FORWARDED_PREFIXES.some((p) => k.startsWith(p)) || o.exportNames.includes(k))
    .sort()
    .map((k) => `${k}=${o.env[k] ?? ''}`);
  const remotes: RemoteNode[] = [];
  let offset = hosts[0]!.slots;
  for (let i = 1; i < hosts.length; i++) {
    const h = hosts[i]!;
    const launchArgs = [
      ...o.launcherArgv, '--watch-stdin', '--nproc-per-node', String(h.slots), '--nnodes', String(hosts.length), '--node-rank', String(i),
      '--rank-offset', String(offset), '--world-size', String(worldSize), '--master-addr', masterAddr,
      '--master-port', String(o.masterPort), '--', ...o.command,
    ];
    const remoteLine = 'IFS= read -r TELECHAT_RUN_SECRET && export TELECHAT_RUN_SECRET && ' +
      ['cd', o.cwd, '&&', 'env', ...forwarded, ...launchArgs].map((w) => (w === '&&' ? w : shellQuote(w))).join(' ');
    remotes.push({ host: h.host, nodeRank: i, argv: ['ssh', '-o', 'BatchMode=yes', h.host, remoteLine],
      stdin: `${o.env.TELECHAT_RUN_SECRET ?? ''}\n` });
    offset += h.slots;
  }
  const local: LaunchOptions = {
    nprocPerNode: hosts[0]!.slots, nnodes: hosts.length, nodeRank: 0, rankOffset: 0, worldSize, masterAddr,
    masterPort: o.masterPort, command: o.command,
  };
  return { local, remotes };
}

export function readHostfile(file: string): HostEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read hostfile (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseHostfile(text, file);
}

/** Splits a stream into lines and hands each complete line (without '\n') to `onLine`. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    },
    flush() {
      if (pending !== '') onLine(pending);
      pending = '';
    },
  };
}

interface Worker {
  label: string; // "rank N" or "node N (host)"
  /** An ssh process running another node's launcher. */
  remote: boolean;
  child: ChildProcess;
  exited: boolean;
  closed: Promise<void>;
  stderrTail: string[];
}

/**
 * Runs the job: the local ranks of `local` plus any remote launchers (already planned).
 * Resolves with the launcher's exit status.
 */
export function runJob(
  local: LaunchOptions,
  remotes: RemoteNode[] = [],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Promise<number> {
  const base = local.env ?? process.env;
  const worldSize = local.worldSize ?? local.nnodes * local.nprocPerNode;
  const rankOffset = local.rankOffset ?? local.nodeRank * local.nprocPerNode;
  if (local.command.length === 0) throw new Error('no command given: put it after "--"');
  let secret = base.TELECHAT_RUN_SECRET ?? '';
  if (secret === '') {
    if (local.nnodes > 1 && remotes.length === 0) {
      throw new Error('TELECHAT_RUN_SECRET must be set (the same value on every node) when nodes are started separately');
    }
    secret = randomBytes(24).toString('hex');
  }
  const remoteEnv = { ...base, TELECHAT_RUN_SECRET: secret };
  const graceMs = (local.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;

  return new Promise<number>((resolve) => {
    const workers: Worker[] = [];
    let failure: { worker: Worker; status: number } | null = null;
    let interrupted: NodeJS.Signals | null = null; // the signal forwarded to the ranks
    let stopStatus: number | null = null; // their exit status after it
    let forced = false; // a second signal: ranks killed
    let killTimer: NodeJS.Timeout | null = null;

    const killAll = (sig: NodeJS.Signals, ranksOnly = false): void => {
      for (const w of workers) {
        if (w.exited || w.child.pid === undefined || (ranksOnly && w.remote)) continue;
        try {
          process.kill(-w.child.pid, sig); // the whole process group
        } catch {
          /* already gone */
        }
      }
    };
    const teardown = (): void => {
      killAll('SIGTERM');
      if (!killTimer) killTimer = setTimeout(() => killAll('SIGKILL'), graceMs);
    };

    const start = (label: string, argv: string[], env: NodeJS.ProcessEnv, prefix: string, stdin?: string): void => {
      const child = spawn(argv[0]!, argv.slice(1), { env, detached: true,
        stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      if (stdin !== undefined) {
        child.stdin!.on('error', () => undefined); // a node that dies at once is reported by its exit
        child.stdin!.write(stdin); // left open: closing it stops the remote node
      }
      const w: Worker = { label, remote: stdin !== undefined, child, exited: false, closed: Promise.resolve(), stderrTail: [] };
      w.closed = new Promise<void>((res) => child.on('close', () => res()));
      const outLines = lineSplitter((l) => io.out(`${prefix}${l}\n`));
      const errLines = lineSplitter((l) => {
        w.stderrTail.push(l);
        if (w.stderrTail.length > STDERR_TAIL_LINES) w.stderrTail.shift();
        io.err(`${prefix}${l}\n`);
      });
      child.stdout!.setEncoding('utf8');
      child.stderr!.setEncoding('utf8');
      // Unprefixed output (rank 0) passes through as-is, so progress bars using \r stay intact.
      child.stdout!.on('data', (c: string) => (prefix === '' ? io.out(c) : outLines.push(c)));
      child.stderr!.on('data', (c: string) => {
        if (prefix === '') {
          for (const l of c.split('\n').filter((x) => x !== '')) {
            w.stderrTail.push(l);
            if (w.stderrTail.length > STDERR_TAIL_LINES) w.stderrTail.shift();
          }
          io.err(c);
        } else errLines.push(c);
      });
      child.stdout!.on('end', () => outLines.flush());
      child.stderr!.on('end', () => errLines.flush());
      child.on('error', (e) => {
        io.err(`telechat-launch: ${label}: cannot start ${argv[0]}: ${e.message}\n`);
        // a shell's statuses: 126 found but not executable, 127 not found
        onExit(w, (e as NodeJS.ErrnoException).code === 'EACCES' ? 126 : 127, null);
      });
      child.on('exit', (code, signal) => onExit(w, code, signal));
      workers.push(w);
    };

    // The first failure starts the teardown. Its report waits a moment: when a rank is killed
    // (say by the OOM killer), its peers often fail an instant later with "connection closed";
    // a rank killed by a signal we did not send is the cause and is named instead.
    let report: Promise<void> = Promise.resolve();
    let tornDownAt = 0;
    const REPORT_WINDOW_MS = 300;
    // 130/143: a telechat-train rank that stopped after SIGINT/SIGTERM (sent to it, or to a peer
    // it agreed with), its checkpoint saved; not a crash
    const stoppedBySignal = (f: { code: number | null; signal: NodeJS.Signals | null }): NodeJS.Signals | null =>
      f.signal !== null ? null : f.code === 128 + signalNumber('SIGINT') ? 'SIGINT' : f.code === 128 + signalNumber('SIGTERM') ? 'SIGTERM' : null;
    const describe = (f: { worker: Worker; code: number | null; signal: NodeJS.Signals | null }): string =>
      f.signal !== null ? `${f.worker.label} was killed by ${f.signal}`
        : stoppedBySignal(f) !== null ? `${f.worker.label} stopped after ${stoppedBySignal(f)} (exit ${f.code})`
          : `${f.worker.label} exited with code ${f.code}`;
    let cause: { worker: Worker; code: number | null; signal: NodeJS.Signals | null } | null = null;
    const others: string[] = [];

    const onExit = (w: Worker, code: number | null, signal: NodeJS.Signals | null): void => {
      if (w.exited) return;
      w.exited = true;
      // after a forwarded signal, a rank that saved and exited 128 + signal has done as asked
      const stoppedAsAsked = interrupted !== null && signal === null && code !== null && (code === 0 || code === 128 + signalNumber(interrupted));
      if (stoppedAsAsked && code !== 0 && stopStatus === null) stopStatus = code;
      const failed = !forced && !stoppedAsAsked && (signal !== null || code !== 0);
      if (failed && !cause) {
        cause = { worker: w, code, signal };
        failure = { worker: w, status: signal !== null ? 128 + signalNumber(signal) : (code ?? 1) };
        tornDownAt = Date.now();
        teardown();
        report = new Promise<void>((res) => setTimeout(res, REPORT_WINDOW_MS)).then(async () => {
          const c = cause!;
          // Give the failing rank's pipes a moment to deliver its last words before the tail.
          await Promise.race([c.worker.closed, new Promise((r) => setTimeout(r, 300))]);
          io.err(`telechat-launch: ${describe(c)}; stopping the other ranks\n`);
          if (others.length > 0) io.err(`telechat-launch: then ${others.join(', ')}\n`);
          if (c.worker.stderrTail.length > 0 && stoppedBySignal(c) === null) {
            io.err(`telechat-launch: last stderr lines of ${c.worker.label}:\n`);
            for (const l of c.worker.stderrTail) io.err(`  ${l}\n`);
          }
        });
      } else if (failed && cause && Date.now() - tornDownAt < REPORT_WINDOW_MS) {
        const killedByOthers = signal !== null && signal !== 'SIGTERM' && cause.signal === null;
        if (killedByOthers) {
          others.push(describe(cause));
          cause = { worker: w, code, signal };
          failure = { worker: w, status: 128 + signalNumber(signal) };
        } else if (signal !== 'SIGTERM') {
          others.push(describe({ worker: w, code, signal }));
        }
      }
      if (workers.every((x) => x.exited)) finish();
    };

    const finish = (): void => {
      if (killTimer) clearTimeout(killTimer);
      for (const w of workers) w.child.stdin?.destroy();
      if (local.watchStdin) process.stdin.destroy();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // Wait briefly for output still in the pipes, but never on orphans holding them open.
      const drained = Promise.all(workers.map((w) => w.closed));
      void Promise.race([drained, new Promise((r) => setTimeout(r, failure ? 1000 : 2000))])
        .then(() => report)
        .then(() => resolve(failure ? failure.status : (stopStatus ?? 0)));
    };

    // A signal is forwarded and the ranks are left to finish their step and save (no kill
    // timer: a save can take minutes); a second one kills them.
    const onSignal = (sig: NodeJS.Signals): void => {
      if (interrupted === null && !failure) {
        interrupted = sig;
        io.err(`telechat-launch: received ${sig}; forwarded to every rank: a training rank finishes its step, saves a checkpoint and exits, one still starting undoes its start (send it again to kill them at once)\n`);
        // this node's ranks only: the others learn of the stop from them (the ranks agree on it
        // through a collective), finish the same step and exit the same way, and so do their
        // launchers; killing the ssh channels would tear those nodes down instead
        killAll(sig, true);
        return;
      }
      io.err(`telechat-launch: received ${sig} again; killing all ranks\n`);
      forced = true;
      if (!failure) failure = { worker: workers[0]!, status: 128 + signalNumber(sig) };
      killAll('SIGKILL');
    };
    const onLostNode = (): void => {
      if (!failure) failure = { worker: workers[0]!, status: 128 + signalNumber('SIGTERM') };
      killAll('SIGTERM');
      if (!killTimer) killTimer = setTimeout(() => killAll('SIGKILL'), graceMs);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (local.watchStdin) {
      process.stdin.on('error', () => undefined);
      process.stdin.on('close', () => {
        if (workers.every((w) => w.exited)) return;
        io.err('telechat-launch: lost the launching node (stdin closed); stopping all ranks\n');
        onLostNode();
      });
      process.stdin.resume();
    }
    // Safety net: if the launcher itself goes down (a crash, process.exit), no rank outlives it.
    process.once('exit', () => killAll('SIGKILL'));

    for (let i = 0; i < local.nprocPerNode; i++) {
      const rank = rankOffset + i;
      const env = rankEnv(base, {
        rank, localRank: i, worldSize, localWorldSize: local.nprocPerNode, nodeRank: local.nodeRank,
        masterAddr: local.masterAddr, masterPort: local.masterPort, secret, launcherPid: process.pid,
      });
      start(`rank ${rank}`, local.command, env, rank === 0 ? '' : `[rank ${rank}] `);
    }
    for (const r of remotes) start(`node ${r.nodeRank} (${r.host})`, r.argv, remoteEnv, `[node ${r.nodeRank}] `, r.stdin);
  });
}
