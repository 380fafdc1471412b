// The resume warning compares schedule settings by value: a long setting that changes past what
// a message shows (a MultiStepLR milestone list) is still a change. The run-length hint follows
// whether the config gave the total, not whether the total happens to equal the run length.
import { expect, it } from 'vitest';
import { type LrSchedule, type TrainerState, scheduleChangeWarning } from '../../src/train/checkpointing.js';
import type { SchedulerConfig } from '../../src/config/types.js';

const schedule = (milestones: number[]): LrSchedule => ({
  lr: 1e-3,
  scheduler: { type: 'MultiStepLR', params: { milestones, gamma: 0.5 } } as unknown as SchedulerConfig,
});

it('a MultiStepLR milestone changed at the end of a long list is named; the same list says nothing', () => {
  const milestones = Array.from({ length: 40 }, (_, i) => 100 * (i + 1));
  const state = { step: 10, lr_schedule: schedule(milestones) } as unknown as TrainerState;
  expect(scheduleChangeWarning('ckpt', state, schedule([...milestones]), [])).toBeNull();
  const warning = scheduleChangeWarning('ckpt', state, schedule([...milestones.slice(0, -1), 4001]), []);
  expect(warning).toMatch(/^--resume ckpt: the learning-rate schedule is not the one its 10 step\(s\) followed: scheduler\.params\.milestones /);
});

it('changed settings get the run-length hint only where the run length set them, not where a given total equals it', () => {
  const decay = (warmup: number, total: number): LrSchedule => ({
    lr: 1e-3,
    scheduler: { type: 'WarmupDecayLR', params: { warmup_min_lr: 0, warmup_max_lr: 1e-3, warmup_num_steps: warmup, warmup_type: 'linear', total_num_steps: total } } as unknown as SchedulerConfig,
  });
  const state = { step: 4, lr_schedule: decay(2, 10) } as unknown as TrainerState;
  const head = '--resume ckpt: the learning-rate schedule is not the one its 4 step(s) followed: ';
  // "auto": the total is the run length, which --max-steps 20 moved
  expect(scheduleChangeWarning('ckpt', state, decay(2, 20), ['total_num_steps'])).toBe(
    `${head}scheduler.params.total_num_steps 10 -> 20; steps 5 on follow the new one (scheduler.params.total_num_steps follows the run length, which --max-steps or the epochs set: give it in the config to keep one schedule across resumes)`);
  // given as 20 (equal to a run of 20 steps, but the config's own number): no hint
  expect(scheduleChangeWarning('ckpt', state, decay(2, 20), [])).toBe(`${head}scheduler.params.total_num_steps 10 -> 20; steps 5 on follow the new one`);
  // a warm-up ratio's steps moved with the run too, the total given: the warm-up alone is named
  expect(scheduleChangeWarning('ckpt', state, decay(4, 10), ['warmup_num_steps'])).toBe(
    `${head}scheduler.params.warmup_num_steps 2 -> 4; steps 5 on follow the new one (scheduler.params.warmup_num_steps follows the run length, which --max-steps or the epochs set: give it in the config to keep one schedule across resumes)`);
  expect(scheduleChangeWarning('ckpt', state, decay(4, 20), ['total_num_steps', 'warmup_num_steps'])).toMatch(
    / \(scheduler\.params\.total_num_steps and scheduler\.params\.warmup_num_steps follow the run length, which --max-steps or the epochs set: give them in the config to keep one schedule across resumes\)$/);
});
