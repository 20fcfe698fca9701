// The pod a chained plugin works in: its netns and an rtnetlink socket there, opened together and
// closed together; a netns that cannot be opened is the runtime's error (CNI code 3, unknown container).
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni';
import { NetNs, Rtnl } from '../kernel';

/** The pod's netns and an rtnetlink socket in it; close() releases both. */
export interface Pod {
  ns: NetNs;
  rt: Rtnl;
  close(): void;
}

export function openPod(netns: string): Pod {
  let ns: NetNs;
  try {
    ns = NetNs.open(netns);
  } catch (e) {
    throw new CniError(ErrorCode.UnknownContainer, 'cannot open the pod network namespace',
      `CNI_NETNS ${JSON.stringify(netns)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const rt = Rtnl.open(ns);
    return { ns, rt, close: () => { rt.close(); ns.close(); } };
  } catch (e) {
    ns.close();
    throw e;
  }
}

/** For DEL: the pod, or undefined when its netns is already gone. */
export function openPodIfExists(netns: string): Pod | undefined {
  if (netns === '' || !existsSync(netns)) return undefined;
  try {
    return openPod(netns);
  } catch (e) {
    if (e instanceof CniError && e.code === ErrorCode.UnknownContainer) return undefined;
    throw e;
  }
}
