import { spawn } from 'node:child_process';
import { hostAllocatorEnvironment } from '../../workers/runtime/host-allocator.ts';

/**
 * Runs a benchmark child (a TypeScript entry, through the tsx loader) in a fresh Node process with `request` as its
 * JSON argument, and parses the JSON line it prints last: each engine gets its own process, memory and threads, and
 * the allocator settings a worker runs with (`npm start`, the worker image) unless the caller's environment sets them.
 */
export function runJsonChild<Result>(entry: string, request: object, label: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, JSON.stringify(request)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...hostAllocatorEnvironment, ...process.env },
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
        reject(new Error(`${label} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(last) as Result);
    });
  });
}
