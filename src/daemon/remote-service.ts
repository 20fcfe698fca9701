// The far side of cross-node VXLAN links, as peer daemons ask for it: upstream's Remote.Update
// makes this node's end inside one of its pods, our RemoteExt.RemoveEnd removes it again. The
// request comes from the network: every field is checked (plumbing/far-end.ts) before anything is
// touched, and a bad field is the peer's error, answered INVALID_ARGUMENT naming it.
import { GrpcStatusError, type RemoteExtHandlers, type RemoteHandlers, Status } from '../grpc';
import { PodGoneError, RemoteEndError, applyRemoteEnd, removeRemoteEnds, validateRemoteEnd } from '../plumbing/far-end';
import type { RemoteEndRef } from '../plumbing/far-node';
import { PermissionDenied, type PeerAuthorizer } from './peer-auth';
import type { Logger } from '../log';

export function remoteUpdateHandler(nodeIp: string, hostIntf: string | undefined, log: Logger, auth?: PeerAuthorizer): RemoteHandlers['update'] {
  return async (req, call) => {
    try {
      const end = {
        netNs: req.netNs, intfName: req.intfName, intfIp: req.intfIp, peerVtep: req.peerVtep,
        // Beyond 2^53 a bigint VNI cannot be valid anyway; validation names the field.
        kubeNs: req.kubeNs, vni: Number(req.vni), nodeIntf: req.nodeIntf,
      };
      validateRemoteEnd(end);
      await auth?.update(end, call);
      const outcome = applyRemoteEnd(end, nodeIp, hostIntf);
      log.info(`Remote.Update from ${req.peerVtep}: ${req.intfName} (VNI ${req.vni}) in ${req.netNs}: ${outcome}`);
      return true;
    } catch (e) {
      if (!(e instanceof PermissionDenied)) log.warn(`Remote.Update from ${req.peerVtep} refused: ${(e as Error).message}`);
      if (e instanceof RemoteEndError) throw new GrpcStatusError(Status.INVALID_ARGUMENT, e.message);
      if (e instanceof PodGoneError) throw new GrpcStatusError(Status.FAILED_PRECONDITION, e.message);
      throw e;
    }
  };
}

/**
 * RemoveEnd requests that arrive together (a peer tearing a pod down sends them concurrently)
 * are carried out together: the ends are collected until the event loop turns, then removed as
 * one kernel batch per pod (removeRemoteEnds), each request answered with its own outcome.
 */
export class EndRemovals {
  private queue: Array<{ ref: RemoteEndRef; done: (removed: boolean) => void; fail: (e: unknown) => void }> = [];

  remove(ref: RemoteEndRef): Promise<boolean> {
    validateRemoteEnd({ ...ref, intfIp: '', kubeNs: '', nodeIntf: '' }, 'EndRef');
    return new Promise((done, fail) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ ref, done, fail });
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    try {
      const removed = removeRemoteEnds(batch.map((b) => b.ref));
      batch.forEach((b, i) => b.done(removed[i]!));
    } catch (e) {
      for (const b of batch) b.fail(e);
    }
  }
}

export function remoteExtHandlers(log: Logger, auth?: PeerAuthorizer, removals = new EndRemovals()): Partial<RemoteExtHandlers> {
  return {
    removeEnd: async (req, call) => {
      try {
        const ref = { netNs: req.netNs, intfName: req.intfName, vni: Number(req.vni), peerVtep: req.peerVtep };
        validateRemoteEnd({ ...ref, intfIp: '', kubeNs: '', nodeIntf: '' }, 'EndRef');
        auth?.removeEnd(ref, call);
        const removed = await removals.remove(ref);
        log.info(`RemoteExt.RemoveEnd from ${req.peerVtep}: ${req.intfName} (VNI ${req.vni}) in ${req.netNs}: ${removed ? 'removed' : 'nothing to remove'}`);
        return removed;
      } catch (e) {
        if (e instanceof RemoteEndError) throw new GrpcStatusError(Status.INVALID_ARGUMENT, e.message);
        throw e;
      }
    },
  };
}
