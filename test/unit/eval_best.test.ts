// Best-eval bookkeeping without a model: a non-finite eval loss is never best and counts against
// early-stopping patience (also after a resume of a state that saved a NaN best as null), and on
// a resume `best` is made to agree with the resumed trainer_state (reconcileBestPointer).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointName, reconcileBestPointer, type TrainerState } from '../../src/train/checkpointing.js';
import { EvalLoop, type EvalRecord, type EvalState } from '../../src/train/evaluate.js';
import { makeTmpDir } from '../helpers/tmp.js';

/** An EvalLoop over a scripted series of eval losses; returns it and the log lines. */
function loopOf(losses: number[], patience: number | null = null) {
  const lines: string[] = [];
  let i = 0;
  const evaluator = {
    evaluate: (step: number): Promise<EvalRecord> => {
      const loss = losses[i++]!;
      return Promise.resolve({ step, eval_loss: loss, eval_tokens: 10, eval_ppl: Math.exp(loss), per_source: {} });
    },
  };
  const loop = new EvalLoop(evaluator, { everySteps: 1, patience, jsonlPath: null, log: (l) => lines.push(l), onRecord: () => {} });
  return { loop, lines };
}

describe('a non-finite eval loss', () => {
  it('is never best: a NaN first evaluation leaves no best, and a later finite loss becomes best', async () => {
    const { loop, lines } = loopOf([NaN, 3, Infinity, 2.5]);
    const improved = [];
    for (let s = 1; s <= 4; s++) improved.push((await loop.run(s)).improved);
    expect(improved).toEqual([false, true, false, true]);
    expect(loop.state).toEqual({ best_step: 4, best_loss: 2.5, evals_without_improvement: 0 });
    expect(lines[0]).toMatch(/eval_loss NaN .*; no finite eval loss yet$/);
    expect(lines[2]).toMatch(/; best 3\.0000 at step 2$/);
  });

  it('counts against patience (never resets it): a diverged run stops', async () => {
    const { loop } = loopOf([3, NaN, NaN], 2);
    expect((await loop.run(1)).stop).toBeNull();
    expect((await loop.run(2)).stop).toBeNull();
    const out = await loop.run(3);
    expect(out.improved).toBe(false);
    expect(out.stop).toMatch(/early stopping: eval loss has not improved for 2 evaluation\(s\).*best 3\.0000 at step 1/);
  });

  it('stops with a message when no evaluation was ever finite', async () => {
    const { loop } = loopOf([NaN, NaN], 2);
    await loop.run(1);
    expect((await loop.run(2)).stop).toMatch(/has not improved for 2 evaluation\(s\).*; no finite eval loss yet$/);
  });

  it('a resumed state whose best has no finite loss (a NaN best saved as null) is no best', async () => {
    const { loop } = loopOf([4]);
    loop.restore({ best_step: 2, best_loss: null, evals_without_improvement: 0 });
    expect(loop.state.best_step).toBeNull();
    expect((await loop.run(3)).improved).toBe(true);
    const kept: EvalState = { best_step: 2, best_loss: 1.5, evals_without_improvement: 1 };
    loop.restore(kept);
    expect(loop.state).toEqual(kept);
  });
});

describe('best after a resume', () => {
  const tmp = makeTmpDir('eval-best');
  afterAll(() => tmp.cleanup());
  let n = 0;

  /** An output dir with checkpoints whose trainer_state records (step, eval best). */
  function outDir(checkpoints: Array<[number, EvalState]>, best: string | null): string {
    const out = join(tmp.dir, `out${n++}`);
    for (const [step, ev] of checkpoints) {
      mkdirSync(join(out, checkpointName(step)), { recursive: true });
      writeFileSync(join(out, checkpointName(step), 'trainer_state.json'), JSON.stringify(state(step, ev)));
    }
    mkdirSync(out, { recursive: true });
    if (best !== null) writeFileSync(join(out, 'best'), best + '\n');
    return out;
  }
  // every key readTrainerState checks, with placeholder values; step and eval are what matter here
  const state = (step: number, ev: EvalState): TrainerState => ({
    format: 'telechat-trainer-state', version: 1, step, epoch: 0, samples: step * 4, global_batch: 4, seed: 42, world_size: 1, zero_stage: 0,
    scheduler: {}, loss_scaler: {}, model: {}, dataset: { rows: 1, tokens: 1, shards: [] }, summary: {}, eval: ev,
  }) as unknown as TrainerState;
  const bestOf = (out: string): string | null => (existsSync(join(out, 'best')) ? readFileSync(join(out, 'best'), 'utf8').trim() : null);
  const at2: EvalState = { best_step: 2, best_loss: 1.25, evals_without_improvement: 0 };
  const resumed4 = state(4, { ...at2, evals_without_improvement: 1 });

  it('names the resumed state\'s best checkpoint, not the one a later (abandoned) step wrote', () => {
    const out = outDir([[2, at2], [4, { ...at2, evals_without_improvement: 1 }], [6, { best_step: 6, best_loss: 1, evals_without_improvement: 0 }]], 'checkpoint-000006');
    expect(reconcileBestPointer(out, resumed4, true)).toBe('best: checkpoint-000002 (eval loss 1.2500 at step 2, the resumed checkpoint\'s best) in place of checkpoint-000006');
    expect(bestOf(out)).toBe('checkpoint-000002');
    expect(reconcileBestPointer(out, resumed4, true)).toBeNull(); // already right: nothing to say
  });

  it('removes `best` and says so when the best checkpoint is gone or holds other weights', () => {
    const gone = outDir([[4, { ...at2, evals_without_improvement: 1 }], [6, { best_step: 6, best_loss: 1, evals_without_improvement: 0 }]], 'checkpoint-000006');
    expect(reconcileBestPointer(gone, resumed4, true)).toMatch(/^note: best: the resumed checkpoint's best, checkpoint-000002 \(eval loss 1\.2500 at step 2\), is not in .* with those weights \(removed since, or the resume came from another output dir\); removed "best" \(it named checkpoint-000006\)/);
    expect(bestOf(gone)).toBeNull();
    // checkpoint-000002 rewritten by another resume: its own state records another best
    const rewritten = outDir([[2, { best_step: 1, best_loss: 0.5, evals_without_improvement: 1 }]], 'checkpoint-000002');
    expect(reconcileBestPointer(rewritten, resumed4, true)).toMatch(/is not in .* with those weights/);
    expect(bestOf(rewritten)).toBeNull();
  });

  it('writes `best` under save_best though none was there; without save_best and a pointer, does nothing', () => {
    const none = outDir([[2, at2]], null);
    expect(reconcileBestPointer(none, resumed4, false)).toBeNull();
    expect(bestOf(none)).toBeNull();
    expect(reconcileBestPointer(none, resumed4, true)).toMatch(/^best: checkpoint-000002/);
    expect(bestOf(none)).toBe('checkpoint-000002');
    const noBest = outDir([[2, at2]], 'checkpoint-000002');
    expect(reconcileBestPointer(noBest, state(4, { best_step: null, best_loss: null, evals_without_improvement: 0 }), true)).toMatch(/no best evaluation yet; removed "best"/);
    expect(bestOf(noBest)).toBeNull();
  });
});
