// The training loop: for each optimizer step, read this rank's micro-batches, run them
// through the engine with gradients scaled by 1 / (label tokens of the global batch), then
// clip and update once. Loss, learning rate, norms, throughput, MFU and memory go to
// metrics.jsonl; a progress bar or periodic log lines go to the terminal.
import { join, resolve } from 'node:path';
import { loadHfWeights } from '../checkpoint/hf.js';
import { mergeAdapter } from '../checkpoint/lora_merge.js';
import type { TrainingRecord } from '../checkpoint/training_record.js';
import { TEMPLATES, type TemplateName } from '../data/templates.js';
import { readAdapterConfig } from '../checkpoint/peft.js';
import { unitList } from '../checkpoint/zero_state.js';
import { resolvedConfigJson, type ResolvedConfig } from '../config/index.js';
import { Sampler } from '../data/sampler.js';
import type { ProcessGroup } from '../distributed/init.js';
import { initRandomEntries, seededUniform } from '../model/init.js';
import type { ParamKind } from '../model/params.js';
import type { Backend } from '../native/backend.js';
import { cpuBackend } from '../native/cpu_backend.js';
import { DType, type Device } from '../native/tensor.js';
import { LossScaler } from '../zero/loss_scaler.js';
import { offloadNotes } from '../zero/offload.js';
import { unitOf } from '../zero/partition.js';
import { ZeroEngine } from '../zero/zero_engine.js';
import { loadStep } from './data_feed.js';
import { deviceMemStats } from './device.js';
import { checkpointName, cutBackStepLogs, datasetIdentity, modelIdentity, openResume, reconcileBestPointer, repointLatest, saveCheckpoint, writeBestPointer } from './checkpointing.js';
import { evalEvery, EvalLoop, Evaluator, evalSetIdentity, otherEvalSet } from './evaluate.js';
import { exportFinal } from './final_export.js';
import { exportMerged, initLoraBase, initLoraWeights, loraUnitList, saveAdapter } from './lora_run.js';
import { faultPoint } from './faults.js';
import { trainingFlops } from './flops.js';
import type { MemoryBytes, StepMetrics } from '../observe/step_metrics.js';
import { MetricsWriter, TrainLog, formatStepLine } from './metrics.js';
import { rankPeak } from './peak.js';
import { writeFileAtomic } from '../observe/files.js';
import { RunObserver } from '../observe/observer.js';
import { ProgressBar, formatSeconds } from './progress.js';
import type { TrainerState } from './checkpointing.js';
import { LrScheduler } from './schedules.js';
import type { RunSetup } from './setup.js';
import { agreeOnStop, StoppedBeforeStart, type StopRequest, yieldToEventLoop } from './stop.js';

export interface TrainIo {
  out: (line: string) => void;
  /** A terminal to draw the progress bar on, or null for periodic log lines. */
  tty: NodeJS.WriteStream | null;
}

export interface TrainSummary {
  steps: number;
  tokens: number;
  seconds: number;
  firstLoss: number;
  lastLoss: number;
  bestLoss: number;
  skipped: number;
  outputDir: string;
  /** The signal that stopped the run early (a checkpoint was saved at `steps`), or null. */
  stoppedBy: NodeJS.Signals | null;
}

export function storageDtype(precision: ResolvedConfig['run']['precision']): DType {
  return precision === 'bf16' ? DType.BF16 : precision === 'fp16' ? DType.F16 : DType.F32;
}

export function gradDtypeOf(cfg: ResolvedConfig): DType {
  return storageDtype(cfg.data_types.grad_accum_dtype);
}

function memoryNow(device: Device): MemoryBytes {
  const c = deviceMemStats(device).current;
  return {
    params: c.params ?? 0,
    grads: c.grads ?? 0,
    master: c.master ?? 0,
    optim: c.optim ?? 0,
    activations: c.activations ?? 0,
    buffers: (c.buffers ?? 0) + (c.scratch ?? 0),
  };
}

export interface TrainOptions {
  /** 'auto' (the latest checkpoint in the output dir) or a checkpoint dir; null starts fresh. */
  resume?: string | null;
  /** Where the model computes (its tensors live on be.device); the CPU backend by default. */
  backend?: Backend;
  /** SIGINT/SIGTERM: stop after the current step with a checkpoint (every rank passes one, or none). */
  stop?: StopRequest;
  /** Printed when stopped by a signal. */
  resumeCommand?: string;
}

export async function train(setup: RunSetup, group: ProcessGroup, io: TrainIo, opts: TrainOptions = {}): Promise<TrainSummary> {
  const resume = opts.resume ?? null;
  const be = opts.backend ?? cpuBackend;
  const { config: cfg, model: source, reader } = setup;
  const rank = group.info.rank;
  const isRank0 = rank === 0;
  const outDir = cfg.training.output_dir;
  // atomic: a crash or a full disk mid-write would leave half a file, which telechat-report refuses
  if (isRank0) writeFileAtomic(join(outDir, 'resolved-config.json'), resolvedConfigJson(cfg));
  // rank 0's progress bar on a terminal (set once training starts): lines printed meanwhile go above it
  let bar: ProgressBar | null = null;
  const echo = (line: string): void => (bar ? bar.around(() => io.out(line)) : io.out(line));
  const log = new TrainLog(join(outDir, cfg.training.log_file), isRank0 ? echo : () => {}, isRank0);
  for (const l of setup.said) log.record(l);
  for (const w of setup.warnings) log.line(`warning: ${w}`);

  const dtype = storageDtype(cfg.run.precision);
  const gradDtype = gradDtypeOf(cfg);
  const micro = cfg.train_micro_batch_size_per_gpu;
  const zero = cfg.zero_optimization;
  const opt = cfg.optimizer.params;
  // LoRA: adapters train over a frozen base (src/train/lora_run.ts), planned by prepareRun
  const lora = setup.lora;
  const engine = new ZeroEngine({
    stage: zero.stage,
    comm: group.world,
    spec: source.spec,
    be,
    model: {
      dtype, gradDtype, maxTokens: micro * reader.manifest.max_seq_len, maxSeqLen: cfg.training.max_seq_len, recompute: cfg.training.gradient_checkpointing,
      // residual dropout masks are keyed by (seed, step, global row, layer): see model/dropout.ts
      hiddenDropout: source.spec.hiddenDropout, dropoutSeed: cfg.training.seed,
      ...(lora ? { lora: lora.model } : {}),
    },
    hyper: { betas: opt.betas, eps: opt.eps, weightDecay: opt.weight_decay, adamWMode: opt.adam_w_mode },
    noDecay: cfg.training.weight_decay_exclude as ParamKind[],
    overlapComm: zero.overlap_comm,
    prefetch: zero.stage3_prefetch_bucket_size > 0,
    persistenceThreshold: zero.stage3_param_persistence_threshold,
    offloadOptimizer: zero.offload_optimizer.device === 'cpu',
    offloadParam: zero.stage === 3 && zero.offload_param.device === 'cpu',
  });
  const scheduler = new LrScheduler(cfg.scheduler, opt.lr);
  const scaler = new LossScaler(cfg.fp16.enabled ? cfg.fp16 : null);
  const sampler = new Sampler({ numRows: reader.numRows, microBatch: micro, gradAccum: cfg.gradient_accumulation_steps, worldSize: engine.worldSize, seed: cfg.training.seed });
  const totalSteps = cfg.run.total_steps ?? sampler.stepsPerEpoch * Math.ceil(cfg.training.epochs);
  const identity = { model: modelIdentity(source.spec), dataset: datasetIdentity(reader.manifest), globalBatch: cfg.train_batch_size,
    split: { micro, accumulation: cfg.gradient_accumulation_steps, worldSize: engine.worldSize } };
  const summary: TrainSummary = { steps: 0, tokens: 0, seconds: 0, firstLoss: NaN, lastLoss: NaN, bestLoss: Infinity, skipped: 0, outputDir: outDir, stoppedBy: null };
  let startStep = 0;
  let evalState: TrainerState['eval'] = undefined;
  const evalSet = setup.evalReader ? evalSetIdentity(setup.evalReader) : null;
  if (lora) initLoraBase(engine, source, cfg.training.seed);
  if (resume !== null) {
    const { dir, state, zero } = openResume(outDir, resume, identity, cfg.lora && lora ? { section: cfg.lora, select: lora.select } : null, lora ? loraUnitList(source.spec, lora) : unitList(source.spec));
    try {
      if (lora && source.init === 'pretrained') {
        // the frozen base comes from --model again: the checkpoint's adapter records the one it trained over
        const trainedOver = readAdapterConfig(join(dir, 'adapter')).base_model_name_or_path;
        if (trainedOver !== null && resolve(trainedOver) !== resolve(source.dir)) {
          log.line(`warning: ${join(dir, 'adapter', 'adapter_config.json')}: the adapters were trained over ${trainedOver}; this run's base is ${resolve(source.dir)} (they fit only the weights they were trained over)`);
        }
      }
      engine.loadOptimizerState((i, kind, start, count) => zero.read(i, kind, start, count));
    } finally {
      zero.close();
    }
    scheduler.loadStateDict(state.scheduler);
    const precisionNote = restoreLossScaler(scaler, state, cfg.run.precision);
    startStep = state.step;
    summary.tokens = state.summary.tokens;
    summary.firstLoss = state.summary.first_loss ?? NaN;
    summary.bestLoss = state.summary.best_loss ?? Infinity;
    summary.skipped = state.summary.skipped;
    evalState = state.eval;
    log.line(`resuming from ${dir} at step ${startStep} (saved on ${state.world_size} rank(s), ZeRO stage ${state.zero_stage})`);
    // an eval state measured on another eval set does not carry over: its losses do not compare
    const otherSet = evalState && evalSet ? otherEvalSet(evalState, evalSet, setup.evalReader!.dir) : null;
    if (otherSet !== null) {
      log.line(`warning: ${otherSet}`);
      evalState = undefined;
    }
    if (precisionNote !== null) log.line(`note: ${precisionNote}`);
    // every rank has read `latest` (prepareRun's finished check) before rank 0 moves it
    group.world.barrier();
    // before any save prunes: retention keeps what `best` names, which must be this state's best
    const notes = isRank0 ? [repointLatest(outDir, dir), reconcileBestPointer(outDir, evalState === state.eval ? state : { ...state, eval: undefined }, cfg.training.save_best)] : [];
    for (const note of notes) if (note !== null) log.line(note);
  } else if (lora) {
    initLoraWeights(engine, lora, cfg.training.seed);
  } else {
    initWeights(engine, source, cfg.training.seed);
  }
  // metrics.jsonl and eval.jsonl hold no step past the start (a fresh start: none). eval.jsonl also
  // when this segment evaluates nothing: its later lines rate weights the resume abandoned.
  if (isRank0) cutBackStepLogs(outDir, startStep);
  // model.dtype, else: a pretrained base keeps its dtype (as HF save_pretrained of the base
  // would); a random init is saved in the training dtype
  const hfDtype = cfg.model.dtype ?? (source.init === 'random' ? cfg.run.precision : null);
  // what inference needs beyond the weights: the template the rows were built with and the length
  // the rotary tables were evaluated at (checkpoint/training_record.ts)
  const template = reader.manifest.template;
  if (!(TEMPLATES as readonly string[]).includes(template)) throw new Error(`${reader.dir}: manifest template ${JSON.stringify(template)} is none of ${TEMPLATES.join(', ')}`);
  const trained: TrainingRecord = { chat_template: template as TemplateName, max_seq_len: cfg.training.max_seq_len };
  const save = (step: number): void => {
    saveCheckpoint(
      {
        engine, spec: source.spec, baseDir: source.dir, outDir, isRank0, hfDtype, trained, saveTotalLimit: cfg.training.save_total_limit,
        ...(lora ? { lora: { units: loraUnitList(source.spec, lora), writeAdapter: (d: string) => saveAdapter(engine, lora, source.spec, source.dir, d, isRank0, trained) } } : {}),
      },
      {
        format: 'telechat-trainer-state', version: 1, step, epoch: sampler.position(step - 1).epoch, samples: step * cfg.train_batch_size,
        global_batch: cfg.train_batch_size, seed: cfg.training.seed, scheduler: scheduler.stateDict(), loss_scaler: scaler.stateDict(),
        precision: cfg.run.precision, world_size: engine.worldSize, zero_stage: engine.stage, model: identity.model, dataset: identity.dataset,
        ...(cfg.lora ? { lora: cfg.lora } : {}),
        lr_schedule: { lr: cfg.optimizer.params.lr, scheduler: cfg.scheduler },
        summary: { tokens: summary.tokens, first_loss: Number.isFinite(summary.firstLoss) ? summary.firstLoss : null, best_loss: Number.isFinite(summary.bestLoss) ? summary.bestLoss : null, skipped: summary.skipped },
        ...(evals && evalSet ? { eval: { ...evals.state, set: evalSet } } : {}),
      },
    );
  };
  const peak = rankPeak(be, dtype, { localRank: group.info.localRank, localWorldSize: group.info.localWorldSize, barrier: () => group.world.barrier() });
  const peakFlops = peak.flops;
  log.line(
    `training ${source.spec.layout} (${engine.table.count.toLocaleString('en-US')} ${lora ? `LoRA parameters (r ${lora.cfg.r}, alpha ${lora.cfg.alpha}, ${lora.targets.length} modules) over a frozen base` : 'parameters'}, ${cfg.run.precision}) on ${be.device} with ZeRO stage ${zero.stage} over ${engine.worldSize} rank(s): ` +
      `${totalSteps} steps of ${cfg.train_batch_size} rows (micro ${micro} x accumulation ${cfg.gradient_accumulation_steps} x ${engine.worldSize} ranks), ${reader.numRows} rows, ${sampler.stepsPerEpoch} steps per epoch`,
  );
  for (const note of offloadNotes(zero, be.device)) log.line(note);
  log.line(`MFU peak: ${(peakFlops / 1e12).toPrecision(4)} TFLOP/s per rank (${peak.source})`);

  const metrics = isRank0 ? new MetricsWriter(join(outDir, 'metrics.jsonl')) : null;
  const observer = isRank0
    ? new RunObserver({
        config: cfg,
        run: {
          layout: source.spec.layout,
          parameters: engine.baseTable?.count ?? engine.table.count,
          ...(lora ? { lora: { r: lora.cfg.r, alpha: lora.cfg.alpha, target_modules: lora.cfg.targetModules, trainable_parameters: engine.table.count } } : {}),
          precision: cfg.run.precision, zero_stage: zero.stage, world_size: engine.worldSize, device: be.device, dataset_dir: reader.dir, total_steps: totalSteps, train_batch_size: cfg.train_batch_size, start_step: startStep },
        log: (line) => log.line(line),
      })
    : null;
  bar = isRank0 && io.tty ? new ProgressBar(totalSteps, startStep, io.tty) : null;
  const evals = setup.evalReader
    ? new EvalLoop(new Evaluator(setup.evalReader, engine, micro), {
        everySteps: evalEvery(cfg.training),
        patience: cfg.training.early_stopping_patience,
        jsonlPath: isRank0 ? join(outDir, 'eval.jsonl') : null,
        log: (line) => log.line(line),
        onRecord: (r) => {
          bar?.setEvalLoss(r.eval_loss);
          observer?.onEval(r);
        },
      })
    : null;
  if (evals && evalState) evals.restore(evalState);
  const started = Date.now();
  let lastSaved = startStep;
  let endStep = totalSteps;
  let running = false;
  try {
    // a signal while the engine was built and loaded stops the start here, undone (the ranks agree),
    // before --overwrite's earlier run goes
    faultPoint('start:before-first-step');
    await yieldToEventLoop();
    const early = opts.stop ? agreeOnStop(group.world, be.device, opts.stop.signal) : null;
    if (early !== null) throw new StoppedBeforeStart(early);
    setup.started(); // the engine is built and loaded: --overwrite's earlier run can go
    running = true;
    for (let step = startStep; step < totalSteps; step++) {
      const t0 = process.hrtime.bigint();
      const batches = await loadStep(reader, sampler, step, rank);
      // the loss is the mean over the label tokens of the whole global batch, on every rank
      const labelTokens = engine.allReduceSum(batches.labelTokens);
      const lossScale = scaler.scale;
      let localLoss = 0;
      batches.micro.forEach((mb, i) => {
        localLoss += engine.microStep(mb, labelTokens > 0 ? lossScale / labelTokens : 0, i === batches.micro.length - 1).lossSum;
      });
      const loss = labelTokens > 0 ? engine.allReduceSum(localLoss) / labelTokens : NaN;
      const lr = scheduler.lr;
      let skipped: StepMetrics['skipped'];
      let gradNorm = NaN;
      if (labelTokens === 0) {
        skipped = 'no_loss_tokens';
        engine.discardGradients();
      } else if (!Number.isFinite(loss)) {
        if (cfg.training.on_nonfinite === 'abort') throw new Error(`step ${step + 1}: loss is ${loss}; stopping (training.on_nonfinite is "abort"; "skip" skips such steps)`);
        skipped = 'nonfinite_loss';
        engine.discardGradients();
      } else {
        const res = engine.step({ step: step + 1, lr, betas: scheduler.betas, maxGradNorm: cfg.gradient_clipping, lossScale });
        gradNorm = res.gradNorm;
        if (res.overflow) skipped = 'overflow';
        if (cfg.fp16.enabled) scaler.update(res.overflow, step + 1);
      }
      // a step that applied no update (an fp16 overflow, a non-finite loss, no label tokens) leaves
      // the schedule where it is, as DeepSpeed's engine (and HF's Trainer under amp) do for an overflow
      if (skipped === undefined) scheduler.step();
      const tokens = engine.allReduceSum(batches.tokens);
      const flops = engine.allReduceSum(trainingFlops(source.spec, batches.docLens, lora ? { adapterParams: engine.table.count } : null));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m: StepMetrics = {
        step: step + 1,
        epoch: sampler.position(step).epoch,
        loss,
        lr,
        grad_norm: gradNorm,
        loss_scale: lossScale,
        tokens,
        loss_tokens: labelTokens,
        step_time_s: seconds,
        tokens_per_s: tokens / seconds,
        mfu: flops / seconds / (peakFlops * engine.worldSize),
        mem: memoryNow(be.device),
        ...(skipped ? { skipped } : {}),
      };
      metrics?.write(m);
      observer?.onStep(m);
      summary.steps = step + 1;
      summary.tokens += tokens;
      if (skipped) summary.skipped++;
      if (Number.isFinite(loss)) {
        if (!Number.isFinite(summary.firstLoss)) summary.firstLoss = loss;
        summary.lastLoss = loss;
        summary.bestLoss = Math.min(summary.bestLoss, loss);
      }
      if (bar) bar.update(step + 1, loss, lr, m.tokens_per_s);
      if ((!bar && ((step + 1) % cfg.steps_per_print === 0 || step === startStep || step + 1 === totalSteps)) || skipped) log.line(formatStepLine(m, totalSteps));
      faultPoint(`step:${step + 1}`);
      // evaluate before saving, so the checkpoint records its own eval result (best, patience)
      const evaluated = evals?.due(step + 1, totalSteps) ? await evals.run(step + 1) : null;
      const saveBest = evaluated !== null && cfg.training.save_best;
      if ((cfg.training.save_steps > 0 && (step + 1) % cfg.training.save_steps === 0) || saveBest || evaluated?.stop) {
        save(step + 1);
        lastSaved = step + 1;
      }
      if (saveBest && evaluated.improved && isRank0) writeBestPointer(outDir, step + 1, cfg.training.save_total_limit);
      if (evaluated?.stop) {
        bar?.finish();
        log.line(`${evaluated.stop}; stopping at step ${step + 1} of ${totalSteps}`);
        endStep = step + 1;
        break;
      }
      // signals (and the launcher watch) are handled here, between steps; the ranks agree
      await yieldToEventLoop();
      if (opts.stop && step + 1 < totalSteps) {
        opts.stop.arm();
        summary.stoppedBy = agreeOnStop(group.world, be.device, opts.stop.signal);
        if (summary.stoppedBy !== null) {
          await opts.stop.settle(); // from here a second signal ends the process, save or not
          if (lastSaved !== step + 1) save(step + 1);
          break;
        }
      }
    }
    if (endStep === totalSteps) bar?.finish();
    if (summary.stoppedBy === null) {
      if (lastSaved !== endStep) save(endStep);
      if (lora) {
        saveAdapter(engine, lora, source.spec, source.dir, join(outDir, 'adapter'), isRank0, trained);
        // a pretrained base is merged from its own files, as telechat-export merges: the engine's
        // copy is in the training dtype, which bf16 would have rounded. A random base exists only here.
        if (source.init === 'random') exportMerged(engine, lora, source.spec, source.dir, join(outDir, 'final'), isRank0, hfDtype, trained);
        else if (isRank0) mergeAdapter(join(outDir, 'adapter'), source.dir, join(outDir, 'final'), hfDtype, (m) => log.line(`warning: ${m}`), true);
      } else {
        exportFinal(engine, source.spec, source.dir, join(outDir, 'final'), isRank0, hfDtype, trained);
      }
      observer?.finished(endStep);
    }
  } catch (e) {
    bar?.finish(); // the error the command prints goes on its own line, not onto the bar's end
    // the line that stopped a started run belongs in its log too, not only on stderr (rank 0 writes it)
    try {
      if (running) log.record(`error: ${(e as Error).message}`);
    } catch {
      // train.log itself unwritable (a full disk): the run's own error is the one to report
    }
    throw e;
  } finally {
    metrics?.close();
    engine.free();
    await observer?.finish();
  }
  summary.seconds = (Date.now() - started) / 1000;
  if (summary.stoppedBy !== null) {
    log.line(
      `stopped by ${summary.stoppedBy} after step ${summary.steps} of ${totalSteps}: checkpoint saved in ${join(outDir, checkpointName(summary.steps))}` +
        (opts.resumeCommand ? `; resume with:\n  ${opts.resumeCommand}` : ''),
    );
    return summary;
  }
  if (startStep === totalSteps) {
    // the run's last checkpoint without its final/ (a run stopped between the two): written now
    log.line(`done: nothing to train: the checkpoint is at step ${startStep}, the run's last; final model written in ${join(outDir, 'final')}`);
    return summary;
  }
  log.line(
    `done: ${summary.steps} steps, ${summary.tokens.toLocaleString('en-US')} tokens in ${formatSeconds(summary.seconds)}; ` +
      `loss ${summary.firstLoss.toFixed(4)} -> ${summary.lastLoss.toFixed(4)} (best ${summary.bestLoss.toFixed(4)})` +
      (summary.skipped ? `; ${summary.skipped} steps skipped` : '') +
      (evals?.state.best_loss != null ? `; best eval loss ${evals.state.best_loss.toFixed(4)} at step ${evals.state.best_step}` : '') +
      `; final model in ${join(outDir, 'final')}`,
  );
  return summary;
}

/**
 * The loss scaler of a resumed run: the checkpoint's when it was saved in this run's precision.
 * An fp16 run resumed from an fp32 or bf16 checkpoint starts its scaler fresh (their state is a
 * scale of 1, which would leave fp16 gradients unscaled); an fp32 or bf16 run drops an fp16
 * checkpoint's scale (it would scale losses it has no reason to). Returns a line for the log when
 * the precision changed, else null.
 */
function restoreLossScaler(scaler: LossScaler, state: TrainerState, precision: string): string | null {
  const saved = state.precision;
  if (typeof saved !== 'string' || saved === precision) {
    scaler.loadStateDict(state.loss_scaler);
    return null;
  }
  const changed = `the checkpoint was saved in ${saved} and this run trains in ${precision}`;
  if (precision === 'fp16') return `${changed}: the fp16 loss scaler starts fresh (scale ${scaler.scale})`;
  if (saved === 'fp16') return `${changed}: no loss scaling (the checkpoint's scale ${state.loss_scaler.scale} is dropped)`;
  return changed;
}

/** Pretrained weights or the seeded random init, unit by unit (same values at any world size). */
function initWeights(engine: ZeroEngine, source: RunSetup['model'], seed: number): void {
  const uniform = seededUniform(seed);
  engine.initParams((views, unit) => {
    const inUnit = (name: string): boolean => unitOf(engine.table, name) === unit;
    if (source.init === 'pretrained') loadHfWeights(source.dir, source.spec, views, inUnit);
    else initRandomEntries(views, engine.table.entries.filter((e) => inUnit(e.name)), source.spec.initializerRange, uniform);
  });
}
