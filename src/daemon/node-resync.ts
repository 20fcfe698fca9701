// What no event announces, looked for at start and every 30 s: DELs the exec shim left while no
// daemon answered (deferred-del.ts), and pods the node's runtime runs that meshnet never saw
// (adopt.ts). Both run through the daemon's own CNI path, under its lock.
import type { PluginFuncs } from '../cni';
import type { Logger } from '../log';
import type { Topology } from '../topology';
import { adoptUnseenPods } from './adopt';
import { serveCniRequest, type CniRequest } from './cni-socket';
import { deferredDir, runDeferredDels } from './deferred-del';
import { installedCniVersion } from './startup';

const NODE_RESYNC_MS = 30_000;
/** Sandboxes whose DEL this daemon served that are remembered (never adopted again). */
const DELETED_REMEMBERED = 4096;

export interface NodeResyncOptions {
  /** The daemon's CNI socket (its deferred directory is beside it). */
  cniSocket: string;
  /** The plugin as the CNI socket serves it (each call under the daemon's lock). */
  plugin: PluginFuncs;
  /** The node's CRI socket, when meshnetd may ask the runtime (config --cri-socket). */
  criSocket?: string;
  /** Where meshnet is chained (the cniVersion an adopted pod's ADD carries). */
  cniConfDir: string;
  /** The Topologies as the reconciler's cache has them; undefined until it has listed once. */
  topologies(): Topology[] | undefined;
  log: Logger;
}

export class NodeResync {
  private timer: NodeJS.Timeout | undefined;
  /** Sandboxes whose DEL this daemon served: never adopted (adopt.ts). */
  private readonly deleted = new Set<string>();

  constructor(private readonly opts: NodeResyncOptions) {}

  /** A CNI DEL of `containerId` was served. */
  noteDel(containerId: string): void {
    this.deleted.add(containerId);
    if (this.deleted.size > DELETED_REMEMBERED) this.deleted.delete(this.deleted.values().next().value!);
  }

  start(): void {
    this.timer = setInterval(() => void this.runDeferred().then(() => this.adopt()), NODE_RESYNC_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async run(req: CniRequest): Promise<{ exitCode: number; stdout: string }> {
    let result = { exitCode: 1, stdout: '' };
    await serveCniRequest(this.opts.plugin, req, (l) => { result = { exitCode: l.exitCode, stdout: l.stdout }; }, (e) => this.opts.log.warn(e.trimEnd()));
    return result;
  }

  /** DELs the shim left while no daemon answered. */
  async runDeferred(): Promise<void> {
    try {
      await runDeferredDels(deferredDir(this.opts.cniSocket), (req) => this.run(req), this.opts.log);
    } catch (e) {
      this.opts.log.warn(`deferred DELs: ${(e as Error).message}`);
    }
  }

  /** Pods the runtime runs that meshnet never saw, asked of the node's CRI. */
  async adopt(): Promise<void> {
    const topologies = this.opts.topologies();
    if (!this.opts.criSocket || !topologies) return;
    try {
      await adoptUnseenPods({
        socket: this.opts.criSocket, topologies: () => topologies, deleted: this.deleted, log: this.opts.log,
        cniVersion: installedCniVersion(this.opts.cniConfDir), run: (req) => this.run(req),
      });
    } catch (e) {
      this.opts.log.warn(`asking the container runtime at ${this.opts.criSocket} for pods: ${(e as Error).message}`);
    }
  }
}
