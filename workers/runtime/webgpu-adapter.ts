import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GraphBuilder, inlineOnly } from '../model/onnx/graph-builder.ts';
import { createSession, runSession, tensor } from './onnx-session.ts';

/** Whether WebGPU found an adapter, and which Vulkan drivers (ICDs) the loader can see. */
export interface WebGpuAdapter {
  available: boolean;
  /** The Vulkan ICD manifests found (`nvidia_icd.json`, Mesa's `lvp_icd.json` = llvmpipe on the CPU, …). */
  vulkanDrivers: string[];
  /** Only Mesa's llvmpipe: shaders run on the CPU (correct, slow). */
  softwareOnly: boolean;
  /** Why no adapter was found. */
  error?: string;
}

const icdDirectories = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

function vulkanDrivers(): string[] {
  const listed = process.env['VK_ICD_FILENAMES'] ?? process.env['VK_DRIVER_FILES'];
  if (listed)
    return listed
      .split(':')
      .filter(Boolean)
      .map((path) => basename(path));
  return icdDirectories.flatMap((directory) =>
    existsSync(directory) ? readdirSync(directory).filter((name) => name.endsWith('.json')) : [],
  );
}

/**
 * Runs a one-node graph on the WebGPU execution provider: the cheapest proof that Dawn found a Vulkan adapter
 * (onnxruntime-node exposes no adapter name, so the installed Vulkan drivers are reported instead).
 */
export async function probeWebGpu(): Promise<WebGpuAdapter> {
  const drivers = vulkanDrivers();
  const softwareOnly = drivers.length > 0 && drivers.every((name) => name.startsWith('lvp'));
  const graph = new GraphBuilder('webgpu_probe', inlineOnly, Number.POSITIVE_INFINITY);
  graph.input('x', 'float32', [1]);
  graph.op('Neg', ['x'], undefined, { output: 'y' });
  graph.output('y', 'float32', [1]);
  try {
    const session = await createSession(graph.encode(), { executionProvider: 'webgpu' });
    try {
      const { y } = await runSession(session, { x: tensor('float32', Float32Array.of(2), [1]) }, { y: null });
      if ((y!.data as Float32Array)[0] !== -2) throw new Error('the WebGPU adapter computed a wrong result');
    } finally {
      await session.release();
    }
    return { available: true, vulkanDrivers: drivers, softwareOnly };
  } catch (error) {
    return { available: false, vulkanDrivers: drivers, softwareOnly, error: (error as Error).message };
  }
}

/** Where WebGPU looks for drivers, for error messages. */
export const vulkanDriverDirectories = icdDirectories.map((directory) => join(directory, '*.json'));
