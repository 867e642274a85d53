import { HubError } from './hub-error.ts';

/** A model repository on the Hub at a revision, as written on the command line: `hf:owner/name[@revision]`. */
export interface HubReference {
  /** `owner/name`. */
  repo: string;
  /** A branch, tag or commit. @defaultValue 'main' */
  revision: string;
}

const hubPrefix = 'hf:';
const repoPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether a `--from`-style argument names a Hub repository rather than a directory. */
export function isHubReference(value: string): boolean {
  return value.startsWith(hubPrefix);
}

/** Parses `hf:owner/name[@revision]`; the revision may hold slashes (`refs/pr/3`). */
export function parseHubReference(value: string): HubReference {
  if (!isHubReference(value)) throw new HubError(`"${value}" is not a Hub reference (hf:owner/name[@revision])`);
  const body = value.slice(hubPrefix.length);
  const at = body.indexOf('@');
  const repo = at === -1 ? body : body.slice(0, at);
  const revision = at === -1 ? 'main' : body.slice(at + 1);
  if (!repoPattern.test(repo) || repo.includes('..')) {
    throw new HubError(`"${value}": the repository must be owner/name, as in hf:IDEA-CCNL/Ziya-LLaMA-13B-v1`);
  }
  if (revision === '') throw new HubError(`"${value}": empty revision after @`);
  return { repo, revision };
}

/** `hf:owner/name@revision`, the form written back into manifests and messages. */
export function formatHubReference(reference: HubReference, commit?: string): string {
  return `hf:${reference.repo}@${commit ?? reference.revision}`;
}
