// CNI_ARGS: "K=V;K2=V2". Like the reference implementation, keys the plugin does not know are an
// error unless IgnoreUnknown is set, because a typo in a key would otherwise be silently ignored.
import { CniError, ErrorCode } from './errors';

export interface CniArgs {
  K8S_POD_NAME?: string;
  K8S_POD_NAMESPACE?: string;
  K8S_POD_INFRA_CONTAINER_ID?: string;
  K8S_POD_UID?: string;
  ignoreUnknown: boolean;
  /** Every other key: those listed in `extraKnown`, and unknown ones when IgnoreUnknown is set. */
  other: Record<string, string>;
}

const K8S_KEYS = ['K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'] as const;
type K8sKey = (typeof K8S_KEYS)[number];

function isK8sKey(k: string): k is K8sKey {
  return (K8S_KEYS as readonly string[]).includes(k);
}

function invalid(details: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, 'invalid CNI_ARGS', details);
}

/**
 * Parses CNI_ARGS. `extraKnown` lists plugin-specific keys that are accepted (into `other`)
 * without IgnoreUnknown. Empty segments (a trailing ";") are skipped; a value may contain "=".
 * Throws CniError InvalidEnvironment (4) naming CNI_ARGS and the offending pair or key.
 */
export function parseCniArgs(s: string | undefined, extraKnown: readonly string[] = []): CniArgs {
  const out: CniArgs = { ignoreUnknown: false, other: {} };
  if (s === undefined || s === '') return out;

  const pairs: Array<[string, string]> = [];
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw invalid(`CNI_ARGS pair ${JSON.stringify(pair)} has no "=" (expected KEY=VALUE;KEY2=VALUE2)`);
    const key = pair.slice(0, eq);
    if (key === '') throw invalid(`CNI_ARGS pair ${JSON.stringify(pair)} has an empty key`);
    pairs.push([key, pair.slice(eq + 1)]);
  }

  // IgnoreUnknown must be known before judging the other keys, wherever it appears.
  for (const [key, value] of pairs) {
    if (key !== 'IgnoreUnknown') continue;
    if (value === '1' || value === 'true' || value === 'True') out.ignoreUnknown = true;
    else if (value === '0' || value === 'false' || value === 'False') out.ignoreUnknown = false;
    else throw invalid(`CNI_ARGS IgnoreUnknown=${JSON.stringify(value)} is not a boolean (use 1/true/True or 0/false/False)`);
  }

  for (const [key, value] of pairs) {
    if (key === 'IgnoreUnknown') continue;
    if (isK8sKey(key)) out[key] = value;
    else if (extraKnown.includes(key) || out.ignoreUnknown) out.other[key] = value;
    else throw invalid(`CNI_ARGS key ${JSON.stringify(key)} is not known to this plugin (set IgnoreUnknown=1 to allow it)`);
  }
  return out;
}

/** Formats a record as CNI_ARGS. Throws CniError InvalidEnvironment for keys/values that would not round-trip. */
export function formatCniArgs(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([k, v]) => {
      if (k === '' || k.includes('=') || k.includes(';')) {
        throw invalid(`CNI_ARGS key ${JSON.stringify(k)} must be non-empty and contain no "=" or ";"`);
      }
      if (v.includes(';')) throw invalid(`CNI_ARGS value of ${k} (${JSON.stringify(v)}) must not contain ";"`);
      return `${k}=${v}`;
    })
    .join(';');
}
