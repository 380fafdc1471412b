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
  expect(scheduleChangeWarning('ckpt', state, schedule([...milestones]), false)).toBeNull();
  const warning = scheduleChangeWarning('ckpt', state, schedule([...milestones.slice(0, -1), 4001]), false);
  expect(warning).toMatch(/^--resume ckpt: the learning-rate schedule is not the one its 10 step\(s\) followed: scheduler\.params\.milestones /);
});

it('a changed total_num_steps gets the run-length hint only where the config left it to the run length', () => {
  const decay = (total: number): LrSchedule => ({
    lr: 1e-3,
    scheduler: { type: 'WarmupDecayLR', params: { warmup_min_lr: 0, warmup_max_lr: 1e-3, warmup_num_steps: 2, warmup_type: 'linear', total_num_steps: total } } as unknown as SchedulerConfig,
  });
  const state = { step: 4, lr_schedule: decay(10) } as unknown as TrainerState;
  const hint = ' (a total the config does not give is the run length, which --max-steps or the epochs set: give scheduler.params.total_num_steps to keep one schedule across resumes)';
  // "auto": the total is the run length, which --max-steps 20 moved
  expect(scheduleChangeWarning('ckpt', state, decay(20), true)).toBe(
    `--resume ckpt: the learning-rate schedule is not the one its 4 step(s) followed: scheduler.params.total_num_steps 10 -> 20; steps 5 on follow the new one${hint}`);
  // given as 20 (equal to a run of 20 steps, but the config's own number): no hint
  expect(scheduleChangeWarning('ckpt', state, decay(20), false)).toBe(
    '--resume ckpt: the learning-rate schedule is not the one its 4 step(s) followed: scheduler.params.total_num_steps 10 -> 20; steps 5 on follow the new one');
});
