import { downloadSnapshot, type HubDownloadProgress } from './hub-download.ts';
import { type HubEnvironment, hubEnvironment } from './hub-environment.ts';
import { isHubReference, parseHubReference } from './hub-reference.ts';

/** Options of `resolveCheckpoint`. */
export interface ResolveCheckpointOptions {
  /** @defaultValue `hubEnvironment()` (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, … of this process) */
  environment?: HubEnvironment;
  onProgress?: (event: HubDownloadProgress) => void;
  signal?: AbortSignal;
}

/**
 * A checkpoint argument as a directory: a path is returned as it is; `hf:owner/name[@revision]` is downloaded
 * (or found complete) in the Hub cache and its snapshot directory returned.
 */
export async function resolveCheckpoint(argument: string, options: ResolveCheckpointOptions = {}): Promise<string> {
  if (!isHubReference(argument)) return argument;
  const snapshot = await downloadSnapshot({
    reference: parseHubReference(argument),
    environment: options.environment ?? hubEnvironment(),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return snapshot.directory;
}
