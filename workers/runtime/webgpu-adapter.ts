import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GraphBuilder, inlineOnly } from '../model/onnx/graph-builder.ts';
import { createSession, runSession, tensor } from './onnx-session.ts';

/** Whether WebGPU found an adapter, and which Vulkan drivers (ICDs) the loader can see. */
export interface WebGpuAdapter {
  available: boolean;
  /** The Vulkan ICD manifests found (`nvidia_icd.json`, Mesa's `lvp_icd.json` = llvmpipe on the CPU, …). */
  vulkanDrivers: string[];
  /** GPU device nodes present (`/dev/nvidia0`, `/dev/dri/renderD128`, …): a hardware adapter needs one. */
  deviceNodes: string[];
  /**
   * The adapter can only be Mesa's llvmpipe (shaders run on the CPU: correct, slow): only its driver is installed, or
   * no GPU device node exists.
   */
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

function gpuDeviceNodes(): string[] {
  const nodes: string[] = [];
  if (existsSync('/dev'))
    nodes.push(
      ...readdirSync('/dev')
        .filter((name) => /^nvidia\d+$/.test(name))
        .map((name) => `/dev/${name}`),
    );
  if (existsSync('/dev/dri')) {
    nodes.push(
      ...readdirSync('/dev/dri')
        .filter((name) => name.startsWith('renderD'))
        .map((name) => `/dev/dri/${name}`),
    );
  }
  return nodes;
}

/**
 * Runs a one-node graph on the WebGPU execution provider: the cheapest proof that Dawn found a Vulkan adapter
 * (onnxruntime-node exposes no adapter name, so the installed Vulkan drivers are reported instead).
 */
export async function probeWebGpu(): Promise<WebGpuAdapter> {
  const drivers = vulkanDrivers();
  const deviceNodes = gpuDeviceNodes();
  const softwareOnly =
    deviceNodes.length === 0 || (drivers.length > 0 && drivers.every((name) => name.startsWith('lvp')));
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
    return { available: true, vulkanDrivers: drivers, deviceNodes, softwareOnly };
  } catch (error) {
    return { available: false, vulkanDrivers: drivers, deviceNodes, softwareOnly, error: (error as Error).message };
  }
}

/** Where WebGPU looks for drivers, for error messages. */
export const vulkanDriverDirectories = icdDirectories.map((directory) => join(directory, '*.json'));

/** One line on what {@link probeWebGpu} found, for the log or an error. */
export function describeWebGpuAdapter(adapter: WebGpuAdapter): string {
  const drivers = `Vulkan drivers: ${adapter.vulkanDrivers.join(', ') || `none in ${vulkanDriverDirectories.join(' ')}`}`;
  const nodes = `GPU device nodes: ${adapter.deviceNodes.join(', ') || 'none'}`;
  if (!adapter.available) {
    // onnxruntime's message is a source location and a sentence; the sentence is what helps.
    const reason = (adapter.error ?? 'unknown error')
      .trim()
      .split('\n')[0]!
      .replace(/^.*? was false\. /, '');
    return `no WebGPU adapter (${reason}; ${drivers}; ${nodes})`;
  }
  const kind = adapter.softwareOnly ? "software only: Mesa's llvmpipe runs the shaders on the CPU" : 'a GPU';
  return `WebGPU adapter found, ${kind} (${drivers}; ${nodes})`;
}
