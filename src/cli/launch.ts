#!/usr/bin/env node
// telechat-launch: start one process per rank (like deepspeed / torchrun). Thin: parse, call
// src/distributed/launcher.ts, exit with its status.
import { lookup } from 'node:dns/promises';
import { helpWidth, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';

import { DEFAULT_GRACE_SECONDS, DEFAULT_MASTER_PORT, planHostfileLaunch, readHostfile, runJob, withRunSecret,
  type LaunchOptions } from '../distributed/launcher.js';

// A closed pipe on our own output (e.g. `| head`) must not kill the launcher and orphan ranks.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

/** The longest grace period a Node timer can wait (2^31 - 1 ms). */
const MAX_GRACE_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-launch')
    .usage('$0 [options] -- COMMAND [ARGS...]')
    .epilog('Starts one process per rank, each in its own process group, with RANK, LOCAL_RANK, WORLD_SIZE, ' +
      'LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR, MASTER_PORT, TELECHAT_RUN_SECRET, TELECHAT_LAUNCHER_PID, TELECHAT_LAUNCH_ARGV ' +
      'and OMP_NUM_THREADS (unless set). ' +
      'If any rank fails, all ranks are stopped (SIGTERM, then SIGKILL after --grace-seconds) and the launcher exits with that rank\'s status. ' +
      'SIGINT/SIGTERM are forwarded: telechat-train ranks finish their step, save a checkpoint and exit 130/143, and so does the launcher; ' +
      'a second signal kills the ranks at once. Ranks stop by themselves if the launcher dies.')
    .option('nproc-per-node', { type: 'number', describe: 'processes (ranks) on this node (default 1); with --hostfile, at most this many per host, as DeepSpeed\'s --num_gpus' })
    .option('nnodes', { type: 'number', describe: 'number of nodes (default 1); with --hostfile, the first this many hosts, as DeepSpeed\'s --num_nodes' })
    .option('node-rank', { type: 'number', describe: 'index of this node (default 0; not with --hostfile, which starts every node)' })
    .option('master-addr', { type: 'string', describe: 'address of the node hosting rank 0 (default 127.0.0.1, or the first hostfile host)' })
    .option('master-port', { type: 'number', default: DEFAULT_MASTER_PORT, describe: 'rendezvous port on the master' })
    .option('hostfile', { type: 'string', describe: 'DeepSpeed hostfile ("host slots=N" lines); other hosts are started over ssh' })
    .option('export', { type: 'array', string: true, default: [] as string[], describe: 'with --hostfile: extra variable names forwarded over ssh (NCCL_* and TELECHAT_* always are)' })
    .option('grace-seconds', { type: 'number', default: DEFAULT_GRACE_SECONDS, describe: `seconds (0 to ${MAX_GRACE_SECONDS}) between SIGTERM and SIGKILL when ranks are stopped because one failed (a forwarded Ctrl-C / SIGTERM has no kill timer: a save may take minutes)` })
    .option('rank-offset', { type: 'number', hidden: true })
    .option('world-size', { type: 'number', hidden: true })
    .option('watch-stdin', { type: 'boolean', hidden: true, describe: 'stop all ranks when stdin closes (remote nodes)' })
    .example('$0 --nproc-per-node 4 -- telechat-train --config configs/zero2.json', 'four ranks on this machine')
    .example('$0 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --nproc-per-node 8 -- telechat-train ...', 'node 0 of 2 (run node 1 with --node-rank 1; export the same TELECHAT_RUN_SECRET on both)')
    .example('$0 --hostfile hosts.txt -- telechat-train --config configs/zero3.json', 'every host of the hostfile, over ssh')
    .parserConfiguration({ 'populate--': true })
    .strict()
    .wrap(helpWidth())
    .help()
    .parse();

  const command = ((argv['--'] as (string | number)[] | undefined) ?? []).map(String);
  // rank 0 prints the command that resumes an interrupted run: this one (src/train/resume_command.ts)
  process.env.TELECHAT_LAUNCH_ARGV = JSON.stringify(process.argv);
  if (command.length === 0) throw new Error('no command given: put it after "--", e.g. telechat-launch --nproc-per-node 2 -- node train.js');
  const positiveInt = (name: string, v: number, min: number): number => {
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return v;
  };
  const masterPort = positiveInt('master-port', argv['master-port'], 1);
  // (a timer longer than 2^31 - 1 ms fires at once in Node)
  const grace = argv['grace-seconds'];
  if (!(grace >= 0 && grace <= MAX_GRACE_SECONDS)) throw new Error(`--grace-seconds must be a number from 0 to ${MAX_GRACE_SECONDS}, got ${grace}`);
  if (masterPort > 65535) throw new Error(`--master-port must be <= 65535, got ${masterPort}`);

  if (argv.hostfile !== undefined) {
    if (argv['node-rank'] !== undefined) throw new Error('--node-rank has no place with --hostfile: the launcher starts every node of the hostfile itself');
    // DeepSpeed's --num_nodes / --num_gpus: the first N hosts, at most N slots on each
    const all = readHostfile(argv.hostfile);
    const nodes = argv.nnodes === undefined ? all.length : positiveInt('nnodes', argv.nnodes, 1);
    if (nodes > all.length) throw new Error(`--nnodes ${nodes}: ${argv.hostfile} lists ${all.length} host(s)`);
    const perNode = argv['nproc-per-node'] === undefined ? null : positiveInt('nproc-per-node', argv['nproc-per-node'], 1);
    const hosts = all.slice(0, nodes).map((h) => {
      if (perNode !== null && perNode > h.slots) throw new Error(`--nproc-per-node ${perNode}: ${argv.hostfile} gives ${h.host} ${h.slots} slot(s)`);
      return { ...h, slots: perNode ?? h.slots };
    });
    const launcherArgv = [process.execPath, process.argv[1]!, '--grace-seconds', String(argv['grace-seconds'])];
    // The secret is made here so the remote command lines carry the same one.
    const env = withRunSecret(process.env);
    const plan = planHostfileLaunch(hosts, {
      masterAddr: argv['master-addr'], masterPort, command, env, exportNames: argv.export,
      cwd: process.cwd(), launcherArgv,
    });
    plan.local.graceSeconds = argv['grace-seconds'];
    plan.local.env = env;
    await checkResolves(plan.local.masterAddr, argv['master-addr'] !== undefined ? '--master-addr' : `${argv.hostfile}: its first host, the master address,`);
    return runJob(plan.local, plan.remotes);
  }
  if (argv.export.length > 0) {
    throw new Error('--export names variables forwarded over ssh to the hosts of --hostfile; without --hostfile no rank is started over ssh (this node\'s ranks inherit the whole environment)');
  }
  const nnodes = positiveInt('nnodes', argv.nnodes ?? 1, 1);
  const nodeRank = positiveInt('node-rank', argv['node-rank'] ?? 0, 0);
  if (nodeRank >= nnodes) throw new Error(`--node-rank ${nodeRank} must be < --nnodes ${nnodes}`);
  const opts: LaunchOptions = {
    nprocPerNode: positiveInt('nproc-per-node', argv['nproc-per-node'] ?? 1, 1),
    nnodes,
    nodeRank,
    masterAddr: argv['master-addr'] ?? '127.0.0.1',
    masterPort,
    rankOffset: argv['rank-offset'],
    worldSize: argv['world-size'],
    command,
    graceSeconds: argv['grace-seconds'],
    watchStdin: argv['watch-stdin'] === true,
  };
  if (argv['master-addr'] !== undefined) await checkResolves(opts.masterAddr, '--master-addr');
  return runJob(opts);
}

/**
 * A master address that does not resolve would only show at the rendezvous timeout (minutes), in
 * every rank: refused up front (no such name, or no name server answering for it).
 */
async function checkResolves(addr: string, what: string): Promise<void> {
  try {
    await lookup(addr);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EAI_AGAIN') {
      throw new Error(`${what} "${addr}" does not resolve to an address (${code}): no rank could reach rank 0 there; give a host name or IP address of the machine that runs rank 0`);
    }
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`telechat-launch: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
