// telechat-launch end to end: rank variables, output prefixes, fail-fast with process groups,
// SIGKILL after the grace period, signal forwarding; plus hostfile parsing and the ssh plan.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { parseHostfile, planHostfileLaunch, rankEnv, shellQuote } from '../../src/distributed/launcher.js';
import { spawn } from 'node:child_process';

import { alive, freePort, launcherJs, runLauncher, workersDir } from './helpers.js';

const fault = join(workersDir, 'fault.mjs');


describe('telechat-launch', () => {
  it('gives every rank its variables, a shared secret and OMP_NUM_THREADS = max(1, cores / local ranks)', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '3', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'env', OMP_NUM_THREADS: '', TELECHAT_RUN_SECRET: '' });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const envs = lines.filter((l) => l.includes('ENV ')).map((l) => {
      const prefix = /^\[rank (\d+)\] ENV /.exec(l);
      const env = JSON.parse(l.slice(l.indexOf('ENV ') + 4)) as Record<string, string>;
      return { prefixRank: prefix ? Number(prefix[1]) : 0, unprefixed: l.startsWith('ENV '), env };
    });
    expect(envs).toHaveLength(3);
    const secret = envs[0]!.env.TELECHAT_RUN_SECRET!;
    expect(secret).toMatch(/^[0-9a-f]{48}$/);
    for (const { prefixRank, unprefixed, env } of envs) {
      expect(env.RANK).toBe(String(prefixRank));
      expect(unprefixed).toBe(prefixRank === 0); // rank 0 unprefixed, others "[rank N] "
      expect(env.LOCAL_RANK).toBe(env.RANK);
      expect(env.WORLD_SIZE).toBe('3');
      expect(env.LOCAL_WORLD_SIZE).toBe('3');
      expect(env.MASTER_ADDR).toBe('127.0.0.1');
      expect(env.MASTER_PORT).toBe(String(port));
      expect(env.TELECHAT_RUN_SECRET).toBe(secret);
      expect(env.OMP_NUM_THREADS).toBe(String(Math.max(1, Math.floor(availableParallelism() / 3))));
    }
    // Every line of a prefixed rank is prefixed, including the second line of a write.
    expect(lines.filter((l) => l === '[rank 1] line')).toHaveLength(1);
    expect(lines.filter((l) => l === '[rank 2] line')).toHaveLength(1);
  });

  it('keeps an OMP_NUM_THREADS the user set', () => {
    const env = rankEnv({ OMP_NUM_THREADS: '7' }, { rank: 1, localRank: 1, worldSize: 2, localWorldSize: 2, nodeRank: 0,
      masterAddr: 'h', masterPort: 1, secret: 's', cores: 64 });
    expect(env.OMP_NUM_THREADS).toBe('7');
    expect(rankEnv({}, { rank: 0, localRank: 0, worldSize: 8, localWorldSize: 8, nodeRank: 0, masterAddr: 'h',
      masterPort: 1, secret: 's', cores: 2 }).OMP_NUM_THREADS).toBe('1');
    expect(rankEnv({}, { rank: 0, localRank: 0, worldSize: 3, localWorldSize: 3, nodeRank: 0, masterAddr: 'h',
      masterPort: 1, secret: 's', cores: 16 }).OMP_NUM_THREADS).toBe('5');
  });

  it('fails fast: a rank exiting non-zero stops the others (their children too) and returns its status', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'fail' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('rank 1 exited with code 3');
    expect(r.stderr).toMatch(/last stderr lines of rank 1:\n {2}first words\n {2}something went wrong on purpose/);
    const grandchild = Number(/GRANDCHILD (\d+)/.exec(r.stdout)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(grandchild)).toBe(false); // killed with rank 0's process group
    expect(r.ms).toBeLessThan(15_000);
  });

  it('does not wait on pipes held open by an orphan that escaped the process group', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '1', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'orphan' });
    const orphan = Number(/ORPHAN (\d+)/.exec(r.stdout)?.[1]);
    try {
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(10_000); // the orphan sleeps 30 s with the pipes open
    } finally {
      if (orphan > 0 && alive(orphan)) process.kill(orphan, 'SIGKILL');
    }
  });

  it('SIGKILLs a rank that ignores SIGTERM after the grace period', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '2', '--grace-seconds', '1', '--master-port', String(port), '--',
      'node', fault], { TEST_MODE: 'stubborn' });
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('ignoring SIGTERM');
    expect(r.ms).toBeLessThan(10_000);
  });

  it('refuses a --grace-seconds that no timer can wait (negative, or past setTimeout\'s 2^31 - 1 ms), starting nothing', async () => {
    for (const g of ['-5', '3000000']) {
      const r = await runLauncher(['--nproc-per-node', '1', '--grace-seconds', g, '--', 'node', '-e', 'console.log("STARTED")'], {});
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`telechat-launch: --grace-seconds must be a number from 0 to 2147483, got ${Number(g)}`);
      expect(r.stdout).not.toContain('STARTED');
    }
  });

  it('forwards SIGTERM to every rank and exits 143', async () => {
    const port = await freePort();
    let sent = false;
    const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'sleep' }, (out, pid) => {
        if (!sent && out.split('READY').length - 1 >= 2) {
          sent = true;
          process.kill(pid, 'SIGTERM');
        }
      });
    expect(sent).toBe(true);
    expect(r.code).toBe(143);
    expect(r.stderr).toContain('received SIGTERM');
  });

  it('--watch-stdin (remote nodes): stdin closing stops every rank', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const child = spawn(process.execPath, [launcherJs, '--watch-stdin', '--nproc-per-node', '2', '--master-port',
      String(port), '--', 'node', fault], { env: { ...process.env, TEST_MODE: 'sleep' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.split('READY').length - 1 === 2) child.stdin.end(); // like the ssh channel closing
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code).toBe(143);
    expect(err).toContain('lost the launching node (stdin closed); stopping all ranks');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('rejects a missing command and bad flags with one clear error', async () => {
    const a = await runLauncher(['--nproc-per-node', '2']);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('no command given');
    const b = await runLauncher(['--nproc-per-node', '0', '--', 'true']);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('--nproc-per-node must be an integer >= 1');
    // --export names what ssh forwards: without --hostfile there is no ssh, so it would do nothing
    const d = await runLauncher(['--nproc-per-node', '2', '--export', 'HOME', '--', 'true']);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe('telechat-launch: --export names variables forwarded over ssh to the hosts of --hostfile; without --hostfile no rank is started over ssh (this node\'s ranks inherit the whole environment)\n');
    const c = await runLauncher(['--help']);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('Examples:');
    // a command that cannot start: 127 when it is not there, 126 when it is not executable, as a shell says
    const missing = await runLauncher(['--nproc-per-node', '1', '--master-port', String(await freePort()), '--', 'no-such-command-telechat']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('cannot start no-such-command-telechat');
    const dir = mkdtempSync(join(tmpdir(), 'telechat-noexec-'));
    try {
      writeFileSync(join(dir, 'noexec.sh'), '#!/bin/sh\necho ran\n');
      chmodSync(join(dir, 'noexec.sh'), 0o644);
      const noexec = await runLauncher(['--nproc-per-node', '1', '--master-port', String(await freePort()), '--', join(dir, 'noexec.sh')]);
      expect(noexec.code).toBe(126);
      expect(noexec.stderr).toContain(`cannot start ${join(dir, 'noexec.sh')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hostfile', () => {
  it('parses DeepSpeed hostfiles with comments and names the line at fault', () => {
    expect(parseHostfile('# cluster\nworker-1 slots=4\n\nworker-2   slots=2  # spare\n', 'hosts')).toEqual([
      { host: 'worker-1', slots: 4 }, { host: 'worker-2', slots: 2 }]);
    expect(() => parseHostfile('a slots=2\nb slots=x\n', 'hosts')).toThrow('hosts:2: expected "HOST slots=N"');
    expect(() => parseHostfile('a slots=2\na slots=2\n', 'h')).toThrow('h:2: host "a" is listed twice');
    expect(() => parseHostfile('# nothing\n', 'h')).toThrow('h: no hosts listed');
    expect(() => parseHostfile('a slots=0', 'h')).toThrow('h:1: slots must be >= 1');
  });

  it('plans remote nodes over ssh with rank offsets and forwarded NCCL_/TELECHAT_ variables', () => {
    const plan = planHostfileLaunch([{ host: 'n0', slots: 4 }, { host: 'n1', slots: 2 }, { host: 'n2', slots: 3 }], {
      masterPort: 29500, command: ['telechat-train', '--config', 'a b.json'],
      env: { NCCL_DEBUG: 'INFO', TELECHAT_RUN_SECRET: 'abc', HOME: '/root', MY_VAR: "it's" }, exportNames: ['MY_VAR'],
      cwd: '/work/job', launcherArgv: ['/usr/bin/node', '/opt/launch.js'],
    });
    expect(plan.local).toMatchObject({ nprocPerNode: 4, nnodes: 3, nodeRank: 0, rankOffset: 0, worldSize: 9, masterAddr: 'n0' });
    expect(plan.remotes.map((r) => r.host)).toEqual(['n1', 'n2']);
    const line = plan.remotes[1]!.argv.at(-1)!;
    expect(plan.remotes[1]!.argv.slice(0, 4)).toEqual(['ssh', '-o', 'BatchMode=yes', 'n2']);
    // The secret travels on stdin, never on a command line.
    expect(line).toContain("IFS= read -r TELECHAT_RUN_SECRET && export TELECHAT_RUN_SECRET && cd /work/job && env 'MY_VAR=it'\\''s' NCCL_DEBUG=INFO /usr/bin/node /opt/launch.js");
    expect(plan.remotes[1]!.stdin).toBe('abc\n');
    expect(line).not.toContain('abc');
    expect(line).toContain('--watch-stdin --nproc-per-node 3 --nnodes 3 --node-rank 2 --rank-offset 6 --world-size 9 --master-addr n0 --master-port 29500');
    expect(line).toContain("-- telechat-train --config 'a b.json'");
    expect(line).not.toContain('HOME=');
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
  });

  it('runs a 3-rank job over two "hosts" end to end (ssh replaced by a local shell)', async () => {
    // A fake ssh on PATH runs the remote command line locally, so the whole hostfile path runs:
    // planning, quoting, forwarded secret, remote launcher with rank offset and world size.
    const dir = mkdtempSync(join(tmpdir(), 'telechat-hostfile-'));
    try {
      writeFileSync(join(dir, 'ssh'), '#!/bin/sh\n# ssh -o BatchMode=yes HOST COMMAND\nshift 3\nexec /bin/sh -c "$1"\n');
      chmodSync(join(dir, 'ssh'), 0o755);
      writeFileSync(join(dir, 'hosts'), '# two fake hosts\nhost-a slots=2\nhost-b slots=1\n');
      const port = await freePort();
      const r = await runLauncher(['--hostfile', join(dir, 'hosts'), '--master-addr', '127.0.0.1', '--master-port',
        String(port), '--', 'node', join(workersDir, 'collectives.mjs')],
      { PATH: `${dir}:${process.env.PATH}`, TEST_LENGTHS: '1,7', TELECHAT_RUN_SECRET: '' });
      if (r.code !== 0) throw new Error(`launcher exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
      const stats = r.stdout.split('\n').filter((l) => l.includes('STATS '));
      expect(stats).toHaveLength(3);
      expect(r.stdout).toMatch(/^\[node 1\] \[rank 2\] STATS \{"rank":2,"world":3,/m);
      // DeepSpeed's --num_gpus / --num_nodes: at most N ranks per host, the first N hosts
      const capped = async (extra: string[]) => {
        const res = await runLauncher(['--hostfile', join(dir, 'hosts'), '--master-addr', '127.0.0.1', '--master-port', String(await freePort()), ...extra,
          '--', 'node', join(workersDir, 'collectives.mjs')], { PATH: `${dir}:${process.env.PATH}`, TEST_LENGTHS: '1', TELECHAT_RUN_SECRET: '' });
        if (res.code !== 0) throw new Error(`launcher exited ${res.code}:\n${res.stderr}\n${res.stdout}`);
        return res.stdout.split('\n').filter((l) => l.includes('STATS ')).map((l) => /"world":(\d+)/.exec(l)![1]);
      };
      expect(await capped(['--nproc-per-node', '1'])).toEqual(['2', '2']);
      expect(await capped(['--nnodes', '1'])).toEqual(['2', '2']);
      for (const [extra, message] of [
        [['--nproc-per-node', '3'], /--nproc-per-node 3: .*hosts gives host-a 2 slot\(s\)/],
        [['--nnodes', '3'], /--nnodes 3: .*hosts lists 2 host\(s\)/],
        [['--node-rank', '1'], /--node-rank has no place with --hostfile/],
      ] as const) {
        const bad = await runLauncher(['--hostfile', join(dir, 'hosts'), ...extra, '--', 'true'], {});
        expect(bad.code).toBe(1);
        expect(bad.stderr).toMatch(message);
      }
      // a master that names no host is refused before any rank starts (the ranks would wait out
      // the rendezvous timeout); '.invalid' is reserved never to resolve (RFC 2606)
      writeFileSync(join(dir, 'unknown'), 'nosuchhost.invalid slots=2\n');
      const started = Date.now();
      const unknown = await runLauncher(['--hostfile', join(dir, 'unknown'), '--', 'node', '-e', 'console.log("RAN")'], {});
      expect(unknown.code).toBe(1);
      // ENOTFOUND from a name server that answers; EAI_AGAIN where none does
      expect(unknown.stderr).toMatch(new RegExp(`^telechat-launch: ${join(dir, 'unknown').replace(/[.*+?^$()|[\]\\]/g, '\\$&')}: its first host, the master address, "nosuchhost\\.invalid" does not resolve to an address \\((ENOTFOUND|EAI_AGAIN)\\): no rank could reach rank 0 there; give a host name or IP address of the machine that runs rank 0\n$`));
      expect(unknown.stdout).not.toContain('RAN');
      const given = await runLauncher(['--nproc-per-node', '1', '--master-addr', 'nosuchhost.invalid', '--', 'true'], {});
      expect(given.code).toBe(1);
      expect(given.stderr).toMatch(/^telechat-launch: --master-addr "nosuchhost\.invalid" does not resolve to an address/);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
