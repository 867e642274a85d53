import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { describeWebGpuAdapter } from '../../workers/runtime/webgpu-adapter.ts';

const cli = resolve(import.meta.dirname, '../../bin/ziya-visual-bot.js');

describe('a worker on EXECUTION_PROVIDER=webgpu without an adapter', () => {
  it('exits 1 with one line naming the drivers it saw, before it needs Redis', async () => {
    // No REDIS_URL: the adapter check comes first, so the process never gets to the Redis wait.
    const { REDIS_URL: _redis, MODEL_DIR: _model, ...inherited } = process.env;
    const run = promisify(execFile)(process.execPath, [cli, 'worker'], {
      env: {
        ...inherited,
        EXECUTION_PROVIDER: 'webgpu',
        VK_ICD_FILENAMES: '/nonexistent/none_icd.json',
        LOG_LEVEL: 'info',
      },
      timeout: 60_000,
    });
    const failure = (await run.then(
      () => undefined,
      (error: unknown) => error,
    )) as { code?: number; stdout: string; stderr: string } | undefined;
    expect(failure?.code).toBe(1);
    // The Vulkan loader and Dawn print their own warnings first; ours is one line, without a stack trace.
    const ours = failure!.stderr.split('\n').filter((line) => line.startsWith('EXECUTION_PROVIDER=webgpu'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toContain('no WebGPU adapter (Failed to get a WebGPU adapter: No supported adapters;');
    expect(ours[0]).toContain('Vulkan drivers: none_icd.json');
    expect(ours[0]).toContain('NVIDIA_DRIVER_CAPABILITIES');
    // No JavaScript stack (Dawn's own warning names a C++ frame, which is not ours to silence), and ours comes last.
    expect(failure!.stderr).not.toMatch(/^\s+at .*(node:|file:|\.ts:)/m);
    expect(failure!.stderr.trim().split('\n').at(-1)).toBe(ours[0]);
    expect(failure!.stdout).not.toContain('waiting for Redis');
  });
});

describe('describeWebGpuAdapter', () => {
  it('says software only for llvmpipe and names what it saw', () => {
    expect(
      describeWebGpuAdapter({ available: true, vulkanDrivers: ['lvp_icd.json'], deviceNodes: [], softwareOnly: true }),
    ).toBe(
      "WebGPU adapter found, software only: Mesa's llvmpipe runs the shaders on the CPU (Vulkan drivers: lvp_icd.json; GPU device nodes: none)",
    );
    expect(
      describeWebGpuAdapter({
        available: true,
        vulkanDrivers: ['nvidia_icd.json'],
        deviceNodes: ['/dev/nvidia0'],
        softwareOnly: false,
      }),
    ).toBe('WebGPU adapter found, a GPU (Vulkan drivers: nvidia_icd.json; GPU device nodes: /dev/nvidia0)');
  });
});
