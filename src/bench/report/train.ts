// The bench:train section: training steps (full, bf16, LoRA) against PyTorch and our own full step.
import { atLeast, atMost, benchModel, eagerPeer, f, profileTable, table, torchBuildText } from './format.js';
import { ratioOf, type Result } from './result.js';

/** bench:train's ratios: each key under ratios. and the values it divides. */
const TRAIN_RATIOS: Record<string, [string, string]> = {
  fp32_throughput_vs_torch: ['ours_fp32.tokens_per_s', 'torch_fp32.tokens_per_s'],
  bf16_throughput_vs_torch: ['ours_bf16.tokens_per_s', 'torch_fp32.tokens_per_s'],
  fp32_peak_rss_vs_torch: ['ours_fp32.peak_rss_mb', 'torch_fp32.peak_rss_mb'],
  bf16_peak_rss_vs_torch: ['ours_bf16.peak_rss_mb', 'torch_fp32.peak_rss_mb'],
  fp32_cpu_per_token_vs_torch: ['torch_fp32.step_cpu_s', 'ours_fp32.step_cpu_s'],
  bf16_cpu_per_token_vs_torch: ['torch_fp32.step_cpu_s', 'ours_bf16.step_cpu_s'],
  bf16_throughput_vs_torch_bf16: ['ours_bf16.tokens_per_s', 'torch_bf16.tokens_per_s'],
  bf16_throughput_vs_ours_fp32: ['ours_bf16.tokens_per_s', 'ours_fp32.tokens_per_s'],
  fp32_fraction_of_sgemm: ['ours_fp32_gflops', 'sgemm.gflops'],
  lora_fp32_throughput_vs_full: ['ours_lora_fp32.tokens_per_s', 'ours_fp32.tokens_per_s'],
  lora_bf16_throughput_vs_full: ['ours_lora_bf16.tokens_per_s', 'ours_bf16.tokens_per_s'],
  lora_fp32_peak_rss_vs_full: ['ours_lora_fp32.peak_rss_mb', 'ours_fp32.peak_rss_mb'],
  lora_bf16_peak_rss_vs_full: ['ours_lora_bf16.peak_rss_mb', 'ours_bf16.peak_rss_mb'],
  lora_fp32_throughput_vs_torch_lora: ['ours_lora_fp32.tokens_per_s', 'torch_lora_fp32.tokens_per_s'],
  lora_fp32_peak_rss_vs_torch_lora: ['ours_lora_fp32.peak_rss_mb', 'torch_lora_fp32.peak_rss_mb'],
};

/** A bench:train ratio under `at` ('' or 'own_blas.'), checked against the values it divides. */
function trainRatio(r: Result, key: string, at = ''): number {
  const [num, den] = TRAIN_RATIOS[key]!;
  return ratioOf(r, `${at}ratios.${key}`, at + num, at + den);
}

/** Our fp32 step's GFLOP/s against the sgemm yardstick measured beside it, from the results under `at` ('' or 'own_blas.'). */
function sgemmRow(r: Result, at: string): string[] {
  return [`our fp32 step GFLOP/s (${f(r.num(`${at}ours_fp32_gflops`), 1)}) vs sgemm (${f(r.num(`${at}sgemm.gflops`), 1)})`,
    `${atLeast(100 * trainRatio(r, 'fp32_fraction_of_sgemm', at), 1)}%`, '>= 80%'];
}

/** Our fp32 sides rerun without OPENBLAS_CORETYPE: OpenBLAS's own kernel choice, and the fp32 and LoRA ratios under it. */
function ownBlasSection(r: Result, side: (label: string, key: string) => string[]): string {
  const core = r.str('own_blas.core');
  return [
    `Our fp32 sides again with OPENBLAS_CORETYPE removed from their environment, so OpenBLAS runs its own choice for this CPU, ` +
      `${core} (the sgemm yardstick measured the same way, in a fresh process each round; PyTorch's sides are not rerun):`,
    '',
    table(['side', 'tokens/s', 's/step (median)', 's/step per round', 'CPU s/step', 'peak RSS MB'], [
      side(`telechat-train fp32, OpenBLAS ${core}`, 'own_blas.ours_fp32'),
      side(`telechat-train LoRA fp32, OpenBLAS ${core}`, 'own_blas.ours_lora_fp32'),
    ]),
    '',
    table([`OpenBLAS ${core}`, 'fp32', 'target'], [
      sgemmRow(r, 'own_blas.'),
      ['LoRA throughput vs our full fine-tuning step', `x${atLeast(trainRatio(r, 'lora_fp32_throughput_vs_full', 'own_blas.'), 3)}`, r.str('targets.lora_throughput_vs_full')],
      ['LoRA peak RSS vs our full fine-tuning step', `x${atMost(trainRatio(r, 'lora_fp32_peak_rss_vs_full', 'own_blas.'), 3)}`, r.str('targets.lora_peak_rss_vs_full')],
    ]),
  ].join('\n');
}

/**
 * What bench:train writes for each of its targets and tables, and why a page without it is refused:
 * a run that skipped a part (BENCH_SIDES, BENCH_EVAL=0, BENCH_PROFILE=0) or a file from an older
 * harness would otherwise lose those rows, and the target with them, without a word.
 */
const TRAIN_REQUIRED: Array<[key: string, what: string, skippedBy: string]> = [
  ['torch_bf16', 'the PyTorch bf16 autocast side (target: our bf16 >= 1.5x it)', 'BENCH_SIDES without it'],
  ['ours_lora_fp32', 'a LoRA side (targets: LoRA >= 1.3x our full step, RSS <= 0.7x)', 'BENCH_SIDES without it'],
  ['ours_lora_bf16', 'a LoRA side (targets: LoRA >= 1.3x our full step, RSS <= 0.7x)', 'BENCH_SIDES without it'],
  ['torch_lora_fp32', 'the PyTorch LoRA side', 'BENCH_SIDES without it'],
  ['eval_cost', 'the evaluation-cost measurement (target: evaluation <= 0.4x a training step)', 'BENCH_EVAL=0'],
  ['profile', 'the per-op profile (where the time of a missed target goes)', 'BENCH_PROFILE=0'],
];

export function trainSection(r: Result): string {
  for (const [key, what, skippedBy] of TRAIN_REQUIRED) {
    if (!r.has(key) || r.get(key) === null) {
      const why = r.has(key) ? `is null (the run had ${skippedBy})` : 'is missing (written by an older bench:train)';
      throw new Error(`${r.file}: ${key} ${why}: it holds ${what}, and the page would drop those rows; rerun npm run bench:train in full`);
    }
  }
  // OpenBLAS forced onto other kernels: the rerun under its own choice carries the sgemm and LoRA targets there too
  const forced = r.has('blas.forced_by_env') && typeof r.get('blas.forced_by_env') === 'string';
  if (forced && (!r.has('own_blas') || r.get('own_blas') === null)) {
    throw new Error(`${r.file}: own_blas is missing or null although OPENBLAS_CORETYPE=${r.str('blas.forced_by_env')} forced the kernels: ` +
      'the rerun of our fp32 sides under OpenBLAS\'s own choice (sgemm and LoRA targets) would be dropped; the run left those sides out of BENCH_SIDES');
  }
  const side = (label: string, key: string): string[] => [label, f(r.num(`${key}.tokens_per_s`), 0), f(r.num(`${key}.step_s`), 2),
    r.nums(`${key}.step_s_samples`).map((x) => f(x, 2)).join(', '), f(r.num(`${key}.step_cpu_s`), 2), f(r.num(`${key}.peak_rss_mb`), 0)];
  const out = [
    `Full training step (forward, backward, global-norm clipping, AdamW update) of the bench model (${benchModel(r, 'shape')} ` +
      `tokens), ${r.num('machine.threads')} threads each side. Ours runs the trainer's ZeroEngine (stage 0, world size 1); PyTorch ` +
      'runs scripts/bench/core_torch.py --train (torch.optim.AdamW, torch.nn.utils.clip_grad_norm_; its bf16 side adds --bf16-autocast: ' +
      'torch.autocast("cpu", dtype=torch.bfloat16) around the forward). Each process is timed from outside: ' +
      `${r.str('timing')}.`,
    '',
    eagerPeer(r.str('peer.torch'), `${r.num('peer.threads')} intra-op thread(s)`, torchBuildText(r, 'peer.build')),
    '',
    table(['side', 'tokens/s', 's/step (median)', 's/step per round', 'CPU s/step', 'peak RSS MB'], [
      side('telechat-train fp32', 'ours_fp32'),
      side('telechat-train bf16', 'ours_bf16'),
      side(`PyTorch ${r.str('peer.torch')} eager fp32`, 'torch_fp32'),
      side(`PyTorch ${r.str('peer.torch')} eager bf16 autocast`, 'torch_bf16'),
      side('telechat-train LoRA fp32', 'ours_lora_fp32'),
      side('telechat-train LoRA bf16', 'ours_lora_bf16'),
      side(`PyTorch ${r.str('peer.torch')} eager LoRA fp32`, 'torch_lora_fp32'),
    ]),
    '',
    table(['ratio vs PyTorch fp32', 'fp32', 'bf16', 'target'], [
      ['throughput', `x${atLeast(trainRatio(r, 'fp32_throughput_vs_torch'))}`, `x${atLeast(trainRatio(r, 'bf16_throughput_vs_torch'))}`, '>= 1.5'],
      ['peak RSS', `x${atMost(trainRatio(r, 'fp32_peak_rss_vs_torch'))}`, `x${atMost(trainRatio(r, 'bf16_peak_rss_vs_torch'))}`, '<= 0.6'],
      ['CPU seconds per step (torch / ours)', `x${f(trainRatio(r, 'fp32_cpu_per_token_vs_torch'))}`, `x${f(trainRatio(r, 'bf16_cpu_per_token_vs_torch'))}`, ''],
    ]),
    '', table(['bf16 and sgemm targets', 'measured', 'target'], [
      ['bf16 throughput vs PyTorch bf16 autocast', `x${atLeast(trainRatio(r, 'bf16_throughput_vs_torch_bf16'))}`, '>= 1.5'],
      ['bf16 throughput vs our fp32', `x${atLeast(trainRatio(r, 'bf16_throughput_vs_ours_fp32'))}`, '>= 1.4'],
      sgemmRow(r, ''),
    ]),
    ...(forced ? ['', ownBlasSection(r, side)] : []),
    '', 'Evaluation cost: engine.evalLoss (a forward-only loss over every label token, what the trainer\'s ' +
      `evaluation runs) of the same batch against the same process's training step: ${r.has('eval_cost.timing') ? r.str('eval_cost.timing')
        : 'in-process times, the upper middle of every call including the first (warm-up) step and evaluation (a result from ' +
          'before the warm-ups were left out, which inflated the step when its warm-up was slow; rerun bench:train)'}.`, '',
    table(['evaluation vs training step', 'fp32', 'bf16', 'target'], [
      ['wall time', `x${atMost(ratioOf(r, 'eval_cost.fp32.ratio', 'eval_cost.fp32.eval_s', 'eval_cost.fp32.step_s'))}`,
        `x${atMost(ratioOf(r, 'eval_cost.bf16.ratio', 'eval_cost.bf16.eval_s', 'eval_cost.bf16.step_s'))}`, r.str('targets.eval_vs_train_step')],
      ['CPU time', `x${f(ratioOf(r, 'eval_cost.fp32.cpu_ratio', 'eval_cost.fp32.eval_cpu_s', 'eval_cost.fp32.step_cpu_s'))}`,
        `x${f(ratioOf(r, 'eval_cost.bf16.cpu_ratio', 'eval_cost.bf16.eval_cpu_s', 'eval_cost.bf16.step_cpu_s'))}`, ''],
    ]),
    '', `LoRA rows: r = ${r.num('lora.r')}, alpha = ${r.num('lora.alpha')} on ` +
      `${r.str('lora.targets')}, over the frozen base in the same dtype (PyTorch: core_torch.py --train --lora, autograd on A ` +
      'and B, the base with requires_grad off).' +
      ` Adapter products: ${r.str('lora_tile_path')}.`, '', table(['LoRA', 'fp32', 'bf16', 'target'], [
      // three digits: these sit close to their targets (x1.30 was once a rounded 1.296)
      ['throughput vs our full fine-tuning step', `x${atLeast(trainRatio(r, 'lora_fp32_throughput_vs_full'), 3)}`,
        `x${atLeast(trainRatio(r, 'lora_bf16_throughput_vs_full'), 3)}`, r.str('targets.lora_throughput_vs_full')],
      ['peak RSS vs our full fine-tuning step', `x${atMost(trainRatio(r, 'lora_fp32_peak_rss_vs_full'), 3)}`,
        `x${atMost(trainRatio(r, 'lora_bf16_peak_rss_vs_full'), 3)}`, r.str('targets.lora_peak_rss_vs_full')],
      ['throughput vs PyTorch LoRA (fp32)', `x${f(trainRatio(r, 'lora_fp32_throughput_vs_torch_lora'))}`, '', ''],
      ['peak RSS vs PyTorch LoRA (fp32)', `x${f(trainRatio(r, 'lora_fp32_peak_rss_vs_torch_lora'))}`, '', ''],
    ]),
    '',
    'Throughput is the headline (wall time). CPU s/step is the same long-minus-short difference of the processes\' own ' +
      'user + system CPU seconds: it moves much less than wall time when other jobs share the cores.',
  ];
  // what the bf16 paragraph says comes from the paths the run recorded, never from their absence
  const onednn = r.str('bf16_gemm_path').startsWith('onednn');
  out.push('', 'bf16 here is bf16 storage (parameters, activations) with fp32 accumulation, fp32 gradient accumulators and fp32 ' +
    'master weights and moments, as the trainer runs a bf16 config. ' + (onednn
    ? `Linear products run on oneDNN's bf16 matmul (${r.str('bf16_gemm_path')}); ` +
      (r.str('attention_tile_path').includes('bf16 on vdpbf16ps')
        ? 'attention tiles on vdpbf16ps (AVX512-BF16), with the probabilities and dS rounded to bf16 for their products; ' +
          'the other ops compute in fp32 from bf16 storage.'
        : 'attention tiles and the other ops compute in fp32 from bf16 storage.')
    : 'The CPU has no bf16 matrix unit in this path: every bf16 linear product widens its operand blocks to fp32 for sgemm ' +
      'and rounds its output back, and attention tiles widen to fp32 ' +
      (r.str('attention_tile_path').startsWith('sgemm') ? 'for sgemm' : 'for our vfmadd kernel') +
      ', so on CPU bf16 buys memory, not speed.'));
  out.push('', '### Where the time goes (TELECHAT_PROFILE=1)', '',
    'Per-op wall time of our training step, from one extra run per precision with TELECHAT_PROFILE=1 (every Backend ' +
      'call timed, plus the engine\'s optimizer sections), averaged over the steps after the warm-up step. ' +
      'Each row is exclusive (self) time: a call nested in a timed section is its own row, named outer/inner, and is ' +
      'not counted again in the outer one, so the rows and the untimed remainder add up to the step and the shares to 100%. ' +
      'The share is of the step\'s wall time measured in the same process.', '',
    '**fp32**', '', profileTable(r, 'fp32'), '', '**bf16**', '', profileTable(r, 'bf16'),
    '', '**LoRA fp32**', '', profileTable(r, 'lora_fp32'), '', '**LoRA bf16**', '', profileTable(r, 'lora_bf16'));
  return out.join('\n');
}
