import { randomBytes } from 'node:crypto';
import { podNetns, type LabState, type PodState } from '../src/lab';

/** A fresh sandbox identity for an existing lab pod. */
export function newPodStateFor(state: LabState, name: string, namespace = 'default'): PodState {
  const old = state.pods.find((p) => p.name === name && p.namespace === namespace);
  if (!old) throw new Error(`no pod ${namespace}/${name} in lab ${state.name}`);
  return {
    name, namespace, node: old.node,
    netns: podNetns(state.name, { name, namespace }),
    containerId: randomBytes(32).toString('hex'),
    uid: old.uid,
  };
}
