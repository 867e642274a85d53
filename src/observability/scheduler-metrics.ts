import {
  interTokenSeconds,
  schedulerOccupiedSlots,
  schedulerQueueWaitSeconds,
  schedulerRowsPerStep,
  schedulerStepSeconds,
} from './metrics.ts';

/**
 * The decode scheduler's reports as Prometheus metrics: occupied slots, step time, rows per step, the wait for a
 * slot and the gap between tokens (time to first token is measured per answer by `instrumentChatModel`).
 */
export const schedulerMetrics = {
  step(rows: number, ms: number): void {
    schedulerStepSeconds.observe(ms / 1000);
    schedulerRowsPerStep.observe(rows);
  },
  joined(waitMs: number): void {
    schedulerQueueWaitSeconds.observe(waitMs / 1000);
  },
  token(gapMs: number): void {
    interTokenSeconds.observe(gapMs / 1000);
  },
  occupied(slots: number): void {
    schedulerOccupiedSlots.set(slots);
  },
} as const;
