import { checkDeltaGeometry, DeltaMismatchError } from '../weights/delta-weight-source.ts';
import { readHfLlamaConfig } from '../weights/hf-llama-config.ts';
import { downloadSnapshot, type HubDownloadProgress } from './hub-download.ts';
import { type HubEnvironment, hubEnvironment } from './hub-environment.ts';
import { isHubReference, parseHubReference } from './hub-reference.ts';

/** The checkpoint arguments of `build-model`: each a directory or `hf:owner/name[@revision]`. */
export interface CheckpointArguments {
  from?: string | undefined;
  deltaBase?: string | undefined;
  visionFrom?: string | undefined;
}

/** Options of `fetchCheckpoints`. */
export interface FetchCheckpointsOptions {
  /** @defaultValue `hubEnvironment()` (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, … of this process) */
  environment?: HubEnvironment;
  onProgress?: (event: HubDownloadProgress) => void;
  signal?: AbortSignal;
}

/**
 * Turns every `hf:` argument into its snapshot directory in the Hub cache, downloading what is missing; directories
 * are returned as they are. With `--delta-base`, the two `config.json`s are fetched and compared first, so a base of
 * the wrong size is refused before tens of gigabytes are downloaded.
 */
export async function fetchCheckpoints(
  checkpoints: CheckpointArguments,
  options: FetchCheckpointsOptions = {},
): Promise<CheckpointArguments> {
  if (checkpoints.deltaBase !== undefined && checkpoints.from === undefined) {
    throw new DeltaMismatchError('--delta-base needs --from, the delta checkpoint to apply to it');
  }
  const environment = options.environment ?? hubEnvironment();
  const fetch = async (argument: string | undefined, configOnly = false): Promise<string | undefined> => {
    if (argument === undefined || !isHubReference(argument)) return argument;
    const snapshot = await downloadSnapshot({
      reference: parseHubReference(argument),
      environment,
      ...(configOnly ? { select: (files) => files.filter((file) => file.path === 'config.json') } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return snapshot.directory;
  };
  if (checkpoints.from !== undefined && checkpoints.deltaBase !== undefined) {
    const deltaConfig = await fetch(checkpoints.from, true);
    const baseConfig = await fetch(checkpoints.deltaBase, true);
    checkDeltaGeometry(
      { config: readHfLlamaConfig(baseConfig!), description: checkpoints.deltaBase },
      { config: readHfLlamaConfig(deltaConfig!), description: checkpoints.from },
    );
  }
  return {
    from: await fetch(checkpoints.from),
    deltaBase: await fetch(checkpoints.deltaBase),
    visionFrom: await fetch(checkpoints.visionFrom),
  };
}
