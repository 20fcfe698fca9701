// The resources the stores hold, with the one property that changes write semantics: whether
// status is a subresource. meshnet's CRDs (deploy/base/crds) enable it for Topology and not for
// GWireKObj, so every backend writes them the way the API server does.
import { StoreError } from './store';

export interface ResourceInfo {
  /** Plural name, as in the API path and the store keys. */
  plural: string;
  group: string;
  version: string;
  kind: string;
  /** Status written only through /status (and ignored by create and update). */
  statusSubresource: boolean;
}

export const MESHNET_GROUP = 'networkop.co.uk';
export const MESHNET_VERSION = 'v1beta1';

const KNOWN: Record<string, ResourceInfo> = {
  topologies: { plural: 'topologies', group: MESHNET_GROUP, version: MESHNET_VERSION, kind: 'Topology', statusSubresource: true },
  gwirekobjs: { plural: 'gwirekobjs', group: MESHNET_GROUP, version: MESHNET_VERSION, kind: 'GWireKObj', statusSubresource: false },
};

/** The resource's description; Invalid for a resource no store holds. */
export function resourceInfo(resource: string): ResourceInfo {
  const r = KNOWN[resource];
  if (!r) throw new StoreError('Invalid', `unknown resource "${resource}" (known: ${Object.keys(KNOWN).join(', ')})`);
  return r;
}

/** Invalid for a resource whose status is part of the object (written with a full update). */
export function requireStatusSubresource(resource: string): void {
  if (!resourceInfo(resource).statusSubresource) {
    throw new StoreError('Invalid', `${resource} has no status subresource: write its status with a full update`);
  }
}
