// What a reconciler sync does to the kernel, behind one interface: meshnetd does it (kernelSync,
// over rtnetlink and plumbing/plumb.ts) and a unit test records it (test/unit/reconciler.test.ts),
// as sample-controller's tests swap the clients of its controller.
import { netnsPathExists, type LinkInfo } from '../kernel';
import { Handles } from '../plumbing/handles';
import { finishEnd } from '../plumbing/links';
import { plumbLink, type PlumbDeps } from '../plumbing/plumb';
import type { LinkPlan, PodRef } from '../plumbing/plan';

/** One sync's kernel work, every netns it touches opened once; close() releases them. */
export interface SyncSession {
  links(netns: string): LinkInfo[];
  link(netns: string, intf: string): LinkInfo | undefined;
  deleteLink(netns: string, intf: string): void;
  delAddr(netns: string, intf: string, cidr: string): void;
  /** Address and up state of an end that is already there (a grpc-wire end kept as it is). */
  finishEnd(netns: string, intf: string, ip: string | undefined): void;
  /** Makes one link as its plan says (plumbing/plumb.ts plumbLink). */
  plumb(p: LinkPlan, pod: PodRef, podNetns: string, nodeIp: string, deps: PlumbDeps): Promise<void>;
  close(): void;
}

export interface SyncKernel {
  netnsExists(path: string): boolean;
  session(): SyncSession;
}

export const kernelSync: SyncKernel = {
  netnsExists: netnsPathExists,
  session(): SyncSession {
    const h = new Handles();
    return {
      links: (netns) => h.get(netns).rtnl.links(),
      link: (netns, intf) => h.get(netns).rtnl.link(intf),
      deleteLink: (netns, intf) => h.get(netns).rtnl.deleteLink(intf),
      delAddr: (netns, intf, cidr) => h.get(netns).rtnl.delAddr(intf, cidr),
      finishEnd: (netns, intf, ip) => finishEnd(h.end(netns, intf, ip), { disableTxOffloads: false }),
      plumb: (p, pod, podNetns, nodeIp, deps) => plumbLink(p, pod, podNetns, nodeIp, h, deps),
      close: () => h.close(),
    };
  },
};
