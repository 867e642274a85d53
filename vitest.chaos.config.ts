import { defineConfig } from 'vitest/config';

// `npm run test:chaos`: the chaos suite (test/chaos) kills workers and Redis and makes the platforms misbehave
// under a running stack; each file starts its own stack (worker processes included), so files run one at a time.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    fileParallelism: false,
  },
});
