/**
 * glibc malloc settings for CPU decoding. onnxruntime-node 1.30 copies every output of a run into a new JS buffer
 * (pre-allocated ones included), so a run whose presents are the whole KV cache copies it: prompts prefilled apart,
 * and every step of decoders built before decode steps (`decode_step`). With glibc's defaults those buffers of
 * megabytes are fresh mmap()s, page-faulted in and unmapped each run; with these they come from the heap and are
 * reused. Measured on the `small` preset, 8 sequences, 2 cores, before decode steps: decode 31.3 → 52.6 tok/s
 * aggregate, system time 33 s → 8 s (README, "Continuous batching").
 *
 * They must be in the environment when the process starts (glibc reads them once): `npm start` and the worker image
 * set them. MALLOC_MMAP_MAX_=0 covers what the threshold cannot (32 MiB is its ceiling): one layer's cache of 16
 * sequences × 512 positions of the `small` preset is 33.5 MiB, and a step took 469 ms with it mmap()ed, 165 ms without.
 */
export const hostAllocatorEnvironment: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(1024 * 1024 * 1024),
  MALLOC_MMAP_MAX_: '0',
};

/** True when this process runs on glibc (where {@link hostAllocatorEnvironment} applies). */
export function runsOnGlibc(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/**
 * What to tell an operator whose CPU worker started without the allocator settings; undefined when they are set
 * (or set through GLIBC_TUNABLES), or when they do not apply (another execution provider, another C library).
 */
export function hostAllocatorAdvice(
  executionProvider: string,
  environment: NodeJS.ProcessEnv = process.env,
  glibc: boolean = runsOnGlibc(),
): string | undefined {
  if (executionProvider === 'webgpu' || !glibc) return undefined;
  if (environment['GLIBC_TUNABLES']?.includes('glibc.malloc.mmap_threshold')) return undefined;
  const missing = Object.keys(hostAllocatorEnvironment).filter((name) => environment[name] === undefined);
  if (missing.length === 0) return undefined;
  const settings = Object.entries(hostAllocatorEnvironment)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return (
    `${missing.length > 1 ? `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}` : missing[0]} not set: each run that returns a KV cache maps, faults in and unmaps fresh memory ` +
    `for its copy (decode steps of older builds up to 1.7× slower at 8 sequences). Start the worker with ${settings} in its environment (npm start and ` +
    'the worker image do)'
  );
}
