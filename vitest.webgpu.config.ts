import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Dawn's Vulkan loader wants a runtime directory; CI containers often have none.
process.env['XDG_RUNTIME_DIR'] ??= mkdtempSync(join(tmpdir(), 'zvb-xdg-'));

/** `npm run test:webgpu`: the decoder on the WebGPU execution provider (Mesa's llvmpipe in CI: slow shader builds). */
export default defineConfig({
  test: {
    include: ['test/webgpu/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // One file at a time: each shader compilation on llvmpipe takes seconds to minutes of CPU.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
