// Who is enrolled: the namespace label istio.io/dataplane-mode=Kmesh (any case) enrols its pods,
// unless the pod carries the same label set to "none" (any case). istio-injection=enabled on the
// namespace adds the sidecar-bypass rules. Read once, at ADD (and again at CHECK): like upstream,
// a label change affects pods created afterwards, not running ones.
import type { KubeClient } from './kube';

export const DATAPLANE_LABEL = 'istio.io/dataplane-mode';
export const INJECTION_LABEL = 'istio-injection';

export interface Enrolment {
  enrolled: boolean;
  /** Insert the RETURN rules (only meaningful when enrolled). */
  bypassSidecar: boolean;
  /** The pod's uid from the API ('' when the pod was not read). */
  podUid: string;
  /** Why, for the log. */
  reason: string;
}

export async function decideEnrolment(kube: KubeClient, namespace: string, pod: string): Promise<Enrolment> {
  const ns = await kube.getNamespace(namespace);
  const mode = ns.labels[DATAPLANE_LABEL];
  if (mode === undefined || mode.toLowerCase() !== 'kmesh') {
    return { enrolled: false, bypassSidecar: false, podUid: '', reason: `namespace ${namespace} has ${DATAPLANE_LABEL}=${mode ?? '(unset)'}` };
  }
  const p = await kube.getPod(namespace, pod);
  const podMode = p.labels[DATAPLANE_LABEL];
  if (podMode !== undefined && podMode.toLowerCase() === 'none') {
    return { enrolled: false, bypassSidecar: false, podUid: p.uid, reason: `pod ${namespace}/${pod} opts out with ${DATAPLANE_LABEL}=${podMode}` };
  }
  const bypassSidecar = ns.labels[INJECTION_LABEL] === 'enabled';
  return {
    enrolled: true, bypassSidecar, podUid: p.uid,
    reason: `namespace ${namespace} has ${DATAPLANE_LABEL}=${mode}${bypassSidecar ? ` and ${INJECTION_LABEL}=enabled` : ''}`,
  };
}
