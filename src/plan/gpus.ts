// The accelerators telechat-plan knows: memory, dense peak TFLOP/s and interconnect defaults.
// Figures are vendor datasheet numbers (dense, no sparsity); --gpu-mem, --tflops,
// --intra-node-gbps and --inter-node-gbps override any of them.
//
// - A100 (NVIDIA A100 Tensor Core GPU datasheet): bf16/fp16 312 TFLOP/s, fp32 19.5 (TF32
//   156 is not used: our fp32 path does not enable TF32). SXM4 40 GB and 80 GB; the driver
//   reports 40960 MiB and 81920 MiB. NVLink 3: 12 links x 25 GB/s = 300 GB/s per direction
//   (2400 Gb/s); DGX A100 has one 200 Gb/s HDR InfiniBand NIC per GPU.
// - H100 SXM5 80 GB (NVIDIA H100 datasheet): bf16/fp16 989 TFLOP/s dense (1979 is with
//   sparsity), fp32 67; the driver reports 81559 MiB. NVLink 4: 18 links x 25 GB/s = 450 GB/s
//   per direction (3600 Gb/s); DGX H100 has one 400 Gb/s NDR NIC per GPU.
// - H200 SXM 141 GB (NVIDIA H200 datasheet): the H100 SXM's compute (989 / 67) with 141 GB
//   HBM3e; the driver reports 143771 MiB. Same NVLink 4 and NDR defaults.
// - Ascend 910B (64 GB HBM2e, the 910B2/B3 SKUs of Atlas 800T A2): Huawei publishes no per-SKU
//   datasheet; public figures for fp16/bf16 range from 256 to 376 TFLOP/s. We use 320, the
//   figure most often quoted. No fp32 figure is published consistently, so fp32 plans on a
//   910B need --tflops. HCCS: 8 NPUs fully meshed, 56 GB/s per pair of NPUs (448 Gb/s: a ring
//   uses one link per direction); RoCE 200 GE per NPU.
//
// cuBLAS workspace: cuBLAS's own default (we never call cublasSetWorkspace): 32 MiB on Hopper,
// 4 MiB on earlier GPUs (cuBLAS documentation, cublasSetWorkspace).
const MiB = 2 ** 20;

export type PeakPrecision = 'bf16' | 'fp16' | 'fp32';

export interface GpuType {
  name: string;
  /** Device memory the driver reports, bytes. */
  memBytes: number;
  /** Dense peak TFLOP/s by compute precision; null where no figure is published. */
  tflops: Record<PeakPrecision, number | null>;
  /** Per-GPU bandwidth of a ring inside one node and across nodes, gigabits per second. */
  intraNodeGbps: number;
  interNodeGbps: number;
  /** Library workspace held outside our allocator (cuBLAS), bytes. */
  blasWorkspaceBytes: number;
}

const A100 = { tflops: { bf16: 312, fp16: 312, fp32: 19.5 }, intraNodeGbps: 2400, interNodeGbps: 200, blasWorkspaceBytes: 4 * MiB };
const HOPPER = { tflops: { bf16: 989, fp16: 989, fp32: 67 }, intraNodeGbps: 3600, interNodeGbps: 400, blasWorkspaceBytes: 32 * MiB };

export const GPUS: readonly GpuType[] = [
  { name: 'A100-40G', memBytes: 40960 * MiB, ...A100 },
  { name: 'A100-80G', memBytes: 81920 * MiB, ...A100 },
  { name: 'H100-80G', memBytes: 81559 * MiB, ...HOPPER },
  { name: 'H200-141G', memBytes: 143771 * MiB, ...HOPPER },
  { name: 'Ascend-910B', memBytes: 65536 * MiB, tflops: { bf16: 320, fp16: 320, fp32: null }, intraNodeGbps: 448, interNodeGbps: 200, blasWorkspaceBytes: 0 },
];

export const DEFAULT_GPU = 'A100-40G';

/** The table entry for a --gpu value (case-insensitive; "910B", "H100" and the like also match). */
export function findGpu(name: string): GpuType {
  const want = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  const exact = GPUS.find((g) => g.name.toLowerCase().replace(/[^a-z0-9]/g, '') === want);
  if (exact) return exact;
  const partial = GPUS.filter((g) => g.name.toLowerCase().replace(/[^a-z0-9]/g, '').includes(want));
  if (want.length >= 3 && partial.length === 1) return partial[0]!;
  throw new Error(`--gpu ${name}: unknown GPU type; known: ${GPUS.map((g) => g.name).join(', ')} (or give --gpu-mem and --tflops)`);
}
