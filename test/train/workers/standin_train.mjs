// One rank of a training run on the stand-in CUDA runtime (src/native/host_cuda.ts) or on the
// CPU, through the same prepareRun/train calls as telechat-train; run it under telechat-launch.
//   node standin_train.mjs DEVICE CONFIG MODEL_CONFIG DATA OUT_DIR     (DEVICE: standin | cpu)
// Writes OUT_DIR/report-rank<R>.json: host memory peaks, and for the stand-in its device
// memory peaks and the CUDA functions it ran.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initDistributed } from '../../../dist/distributed/init.js';
import { HostCudaCommunicator } from '../../../dist/distributed/host_cuda_comm.js';
import { useCudaFunctions } from '../../../dist/native/addon.js';
import { cpuBackend } from '../../../dist/native/cpu_backend.js';
import { cudaBackendOver } from '../../../dist/native/cuda_backend.js';
import { hostCudaFunctions } from '../../../dist/native/host_cuda.js';
import { memStats, resetMemPeaks } from '../../../dist/native/tensor.js';
import { prepareRun } from '../../../dist/train/setup.js';
import { train } from '../../../dist/train/trainer.js';

const [device, configPath, modelConfig, data, outputDir] = process.argv.slice(2);
const cuda = device === 'standin' ? hostCudaFunctions() : null;
if (cuda) useCudaFunctions(cuda);
const group = initDistributed();
const world = cuda ? new HostCudaCommunicator(group.world, cuda) : group.world;
const run = { ...group, world };
const isRank0 = group.info.rank === 0;
const log = (line) => {
  if (isRank0) process.stdout.write(line + '\n');
};
const setup = await prepareRun(
  {
    configPath, sets: [], flags: { modelConfig, init: 'random', data, outputDir }, worldSize: group.info.worldSize,
    dryRun: false, overwrite: false, resume: null, isRank0, barrier: () => group.world.barrier(),
  },
  log,
);
resetMemPeaks();
await train(setup, run, { out: log, tty: null }, { backend: cuda ? cudaBackendOver(cuda) : cpuBackend });
await setup.reader.close();
await setup.evalReader?.close();
const report = { host: memStats().peak, device: cuda ? cuda.cudaMemStats().peak : null, calls: cuda ? Object.fromEntries(cuda.calls) : null };
writeFileSync(join(outputDir, `report-rank${group.info.rank}.json`), JSON.stringify(report));
group.destroy();
