import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostAllocatorAdvice, hostAllocatorEnvironment, runsOnGlibc } from '../../workers/runtime/host-allocator.ts';

const root = join(import.meta.dirname, '..', '..');
const settings = Object.entries(hostAllocatorEnvironment).map(([name, value]) => `${name}=${value}`);

describe('allocator settings for CPU decoding', () => {
  it('are what `npm start` and the worker image start with', () => {
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } })
      .scripts.start;
    const image = readFileSync(join(root, 'deploy/docker/worker.Dockerfile'), 'utf8');
    for (const setting of settings) {
      expect(start).toContain(setting);
      expect(image).toContain(setting);
    }
  });

  it('names what is missing, and how to set it, for a worker on glibc without them', () => {
    // Debian (this project's CI and images) is glibc.
    if (existsSync('/etc/debian_version')) expect(runsOnGlibc()).toBe(true);
    const advice = hostAllocatorAdvice('cpu', { MALLOC_TRIM_THRESHOLD_: '1' }, true);
    expect(advice).toMatch(/^MALLOC_MMAP_THRESHOLD_ and MALLOC_MMAP_MAX_ not set/);
    for (const setting of settings) expect(advice).toContain(setting);
    expect(hostAllocatorAdvice('cuda', {}, true)).toMatch(
      /^MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_MAX_ not set/,
    );
  });

  it('says nothing when they are set, set as glibc tunables, or do not apply', () => {
    expect(hostAllocatorAdvice('cpu', { ...hostAllocatorEnvironment }, true)).toBeUndefined();
    expect(
      hostAllocatorAdvice('cpu', { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432' }, true),
    ).toBeUndefined();
    expect(hostAllocatorAdvice('webgpu', {}, true)).toBeUndefined();
    expect(hostAllocatorAdvice('cpu', {}, false)).toBeUndefined();
  });
});
