import type { Logger } from '../../src/observability/logger.ts';
import { describeWebGpuAdapter, probeWebGpu } from '../runtime/webgpu-adapter.ts';

/**
 * For `worker` and `start` on `EXECUTION_PROVIDER=webgpu`, before anything else starts: logs the adapter WebGPU
 * found (a warning when it can only be llvmpipe, which runs shaders on the CPU), or writes one line saying none was
 * found, with the Vulkan drivers and GPU device nodes seen, and exits with code 1. Other providers: nothing.
 */
export async function requireWebGpuAdapterOrExit(executionProvider: string, logger: Logger): Promise<void> {
  if (executionProvider !== 'webgpu') return;
  const adapter = await probeWebGpu();
  const line = describeWebGpuAdapter(adapter);
  if (!adapter.available) {
    process.stderr.write(
      `EXECUTION_PROVIDER=webgpu: ${line}. On NVIDIA, run with NVIDIA_DRIVER_CAPABILITIES including graphics and the Vulkan loader (libvulkan1) installed; see deploy/README.md\n`,
    );
    process.exit(1);
  }
  const fields = { vulkanDrivers: adapter.vulkanDrivers, deviceNodes: adapter.deviceNodes };
  if (adapter.softwareOnly) logger.warn(fields, line);
  else logger.info(fields, line);
}
