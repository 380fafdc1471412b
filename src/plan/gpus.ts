// The accelerators telechat-plan knows: memory, dense peak TFLOP/s and interconnect defaults.
// Figures are vendor datasheet numbers (dense, no sparsity); --gpu-mem, --tflops,
// --intra-node-gbps and --inter-node-gbps override any of them, and a name not in the table
// with --gpu-mem and --tflops is a custom device (chooseDevice says what it assumes).
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

/** Largest --gpu-mem accepted, GiB (1 PiB: far beyond any device, and bytes stay exact). */
export const MAX_GPU_MEM_GIB = 2 ** 20;

const key = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');
const known = (): string => GPUS.map((g) => g.name).join(', ');

/**
 * Whether a --gpu value names a table entry short of its full name: one whole part of it ("H100",
 * "910B") or the name without its unit ("H100-80"). Never a fragment of a part: "H20" is another
 * GPU, not the H200.
 */
function namesPart(want: string, name: string): boolean {
  return name.split('-').some((part) => key(part) === want) || key(name) === `${want}g`;
}

/**
 * The table entry for a --gpu value (case-insensitive; "910B", "H100" and the like also
 * match), null when nothing matches; a part of several names ("A100") is an error.
 */
function lookupGpu(name: string): GpuType | null {
  const want = key(name);
  const exact = GPUS.find((g) => key(g.name) === want);
  if (exact) return exact;
  if (want.length < 3) return null;
  const partial = GPUS.filter((g) => namesPart(want, g.name));
  if (partial.length > 1) throw new Error(`--gpu ${name}: ambiguous: ${partial.slice(0, -1).map((g) => g.name).join(', ')} or ${partial[partial.length - 1]!.name}`);
  return partial[0] ?? null;
}

/** The table entry for a --gpu value; an unknown name is an error. */
export function findGpu(name: string): GpuType {
  const gpu = lookupGpu(name);
  if (!gpu) throw new Error(`--gpu ${name}: unknown GPU type; known: ${known()} (or give --gpu-mem and --tflops to plan it as a custom device)`);
  return gpu;
}

/** The device flags of telechat-plan (undefined: not given). */
export interface DeviceFlags {
  gpu?: string;
  memGiB?: number;
  tflops?: number;
  intraNodeGbps?: boolean;
  interNodeGbps?: boolean;
}

/** The device a plan runs on: the table's (or a custom) figures, its printed name, and what is assumed. */
export interface DeviceChoice {
  /** memBytes is --gpu-mem's where given. */
  gpu: GpuType;
  name: string;
  /** One sentence on figures taken from elsewhere than the user's flags or the named entry; null when none. */
  assumed: string | null;
}

/**
 * --gpu, --gpu-mem and --tflops resolved: a table entry (the default A100-40G without --gpu)
 * with --gpu-mem's memory, or, when --gpu-mem and --tflops are both given and --gpu names no
 * entry (or is absent), a custom device named as typed ("custom GPU" without --gpu), whose
 * link speeds (unless given) and cuBLAS workspace are the default entry's, said in `assumed`.
 */
export function chooseDevice(f: DeviceFlags): DeviceChoice {
  if (f.memGiB !== undefined && !(Number.isFinite(f.memGiB) && f.memGiB > 0 && f.memGiB <= MAX_GPU_MEM_GIB)) {
    throw new Error(`--gpu-mem must be a positive number of GiB at most ${MAX_GPU_MEM_GIB}, got ${f.memGiB}`);
  }
  const custom = f.memGiB !== undefined && f.tflops !== undefined;
  const def = findGpu(DEFAULT_GPU);
  // an ambiguous name ("A100") with both custom figures given is a custom device named as typed
  const lookup = (gpu: string): GpuType | null => {
    try {
      return lookupGpu(gpu);
    } catch (err) {
      if (custom) return null;
      throw err;
    }
  };
  const entry = f.gpu === undefined ? (custom ? null : def) : lookup(f.gpu);
  // link speeds come from the entry (or are assumed) unless both flags set them
  const links = !(f.intraNodeGbps && f.interNodeGbps);
  if (entry) {
    const gpu = f.memGiB === undefined ? entry : { ...entry, memBytes: f.memGiB * 2 ** 30 };
    const name = f.memGiB === undefined ? entry.name : `${entry.name} with ${f.memGiB} GiB`;
    const overridden = f.memGiB !== undefined || f.tflops !== undefined || f.intraNodeGbps || f.interNodeGbps;
    if (f.gpu !== undefined || !overridden) return { gpu, name, assumed: null };
    // no --gpu but some of its figures overridden: say which of the default's remain
    const kept = [f.memGiB === undefined ? 'memory' : null, f.tflops === undefined ? 'peak TFLOP/s' : null, links ? 'link speeds' : null, 'cuBLAS workspace'].filter((k) => k !== null);
    return { gpu, name, assumed: `no --gpu: the default ${entry.name}'s ${listed(kept)} are assumed` };
  }
  const typed = f.gpu?.trim() ?? '';
  if (f.gpu !== undefined && (!custom || key(typed) === '')) {
    const missing = [f.memGiB === undefined ? '--gpu-mem' : null, f.tflops === undefined ? '--tflops' : null].filter((m) => m !== null);
    const gap = missing.length === 1 ? `; ${missing[0]} is missing` : '';
    throw new Error(`--gpu ${f.gpu}: unknown GPU type; known: ${known()} (or give --gpu-mem and --tflops to plan it as a custom device${gap})`);
  }
  const name = typed || 'custom GPU';
  const t = f.tflops!;
  const gpu: GpuType = { ...def, name, memBytes: f.memGiB! * 2 ** 30, tflops: { bf16: t, fp16: t, fp32: t } };
  const what = typed ? `${typed} is not in the GPU table` : 'no --gpu';
  const assumedLinks = links ? `link speeds (${def.intraNodeGbps} Gb/s in a node, ${def.interNodeGbps} Gb/s across nodes; --intra-node-gbps and --inter-node-gbps set them) and ` : '';
  return { gpu, name, assumed: `${what}: a custom device from --gpu-mem and --tflops, with ${def.name}'s ${assumedLinks}${def.blasWorkspaceBytes / MiB} MiB cuBLAS workspace assumed` };
}

/** "a", "a and b", "a, b and c". */
function listed(items: string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
