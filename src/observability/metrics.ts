import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** A Prometheus registry with process metrics and the depth of the given queues (read at scrape time). */
export function createMetricsRegistry(queues: readonly Queue[]): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'zvb_queue_jobs',
    help: 'Jobs per queue and state (scale GPU workers on requests waiting + prioritized + active).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const queue of queues) {
        const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
        for (const [state, count] of Object.entries(counts)) this.set({ queue: queue.name, state }, count);
      }
    },
  });
  return registry;
}
