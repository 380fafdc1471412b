// The resume warning compares schedule settings by value: a long setting that changes past what
// a message shows (a MultiStepLR milestone list) is still a change.
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
  expect(scheduleChangeWarning('ckpt', state, schedule([...milestones]), null)).toBeNull();
  const warning = scheduleChangeWarning('ckpt', state, schedule([...milestones.slice(0, -1), 4001]), null);
  expect(warning).toMatch(/^--resume ckpt: the learning-rate schedule is not the one its 10 step\(s\) followed: scheduler\.params\.milestones /);
});
