// Every kernel object a lab makes is named from the lab name, so `lab down` can find and remove
// leftovers of a run that crashed before it recorded them. The parts are joined by '.', which a
// lab name, a node name and a Kubernetes namespace cannot contain: `mnl.<lab>.` belongs to exactly
// one lab (with '-' a lab "a" also matched lab "a-b"'s namespaces), and namespace "a-b" with pod
// "c" never meets namespace "a" with pod "b-c".
import type { LabPod } from './labfile';

export const LAB_RUN_DIR = '/run/meshnet-lab';
const PREFIX = 'mnl';

export function labPrefix(lab: string): string {
  return `${PREFIX}.${lab}.`;
}
export function fabricNetns(lab: string): string {
  return `${labPrefix(lab)}fabric`;
}
export function nodeNetns(lab: string, node: string): string {
  return `${labPrefix(lab)}n.${node}`;
}
export function podNetns(lab: string, pod: Pick<LabPod, 'namespace' | 'name'>): string {
  return `${labPrefix(lab)}p.${pod.namespace}.${pod.name}`;
}
export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}
/** Node underlay address on the fabric: TEST-NET-1 (RFC 5737), never routed anywhere. */
export function underlayIp(index: number): string {
  if (index > 240) throw new Error('a lab holds at most 240 nodes');
  return `192.0.2.${11 + index}`;
}
export const UNDERLAY_PREFIX = 24;
/** Pod eth0 subnet of node `index` (the main plugin's IPAM range). */
export function podSubnet(index: number): string {
  return `10.244.${index}.0/24`;
}
