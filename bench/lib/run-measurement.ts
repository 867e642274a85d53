import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Measurement, MeasurementRequest } from './engine-measurement.ts';

const entry = fileURLToPath(new URL('./measure-engine.ts', import.meta.url));

/** Runs one measurement in a fresh Node process (tsx loader) and parses the JSON line it prints last. */
export function runMeasurement(request: MeasurementRequest): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, JSON.stringify(request)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`${request.engine} on ${request.modelPath} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(last) as Measurement);
    });
  });
}
