import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where and how to reach the Hub, read from the variables the Python tools read. */
export interface HubEnvironment {
  /** `HF_ENDPOINT` without a trailing slash. @defaultValue 'https://huggingface.co' */
  endpoint: string;
  /** `HF_TOKEN`, else the token `huggingface-cli login` saved (`HF_TOKEN_PATH`, `$HF_HOME/token`). */
  token: string | undefined;
  /** `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub` (`HF_HOME`: `$XDG_CACHE_HOME/huggingface`). */
  cacheDirectory: string;
  /** `HF_HUB_OFFLINE=1`: use what the cache holds and never call the Hub. */
  offline: boolean;
}

const defaultEndpoint = 'https://huggingface.co';

/** Resolves the Hub settings from an environment (`process.env` by default), in huggingface_hub's order. */
export function hubEnvironment(environment: NodeJS.ProcessEnv = process.env): HubEnvironment {
  const set = (name: string): string | undefined => {
    const value = environment[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const home =
    set('HF_HOME') ?? join(set('XDG_CACHE_HOME') ?? join(environment.HOME ?? homedir(), '.cache'), 'huggingface');
  const tokenPath = set('HF_TOKEN_PATH') ?? join(home, 'token');
  const savedToken = existsSync(tokenPath) ? readFileSync(tokenPath, 'utf8').trim() || undefined : undefined;
  return {
    endpoint: (set('HF_ENDPOINT') ?? defaultEndpoint).replace(/\/+$/, ''),
    token: set('HF_TOKEN') ?? set('HUGGING_FACE_HUB_TOKEN') ?? savedToken,
    cacheDirectory: set('HF_HUB_CACHE') ?? set('HUGGINGFACE_HUB_CACHE') ?? join(home, 'hub'),
    offline: ['1', 'true', 'yes', 'on'].includes((set('HF_HUB_OFFLINE') ?? '').toLowerCase()),
  };
}
