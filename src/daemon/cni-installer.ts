// meshnetd's CNI installer: puts the exec shim in the CNI bin directory and chains meshnet into
// the node's CNI configuration, as upstream's daemon does: the primary config a runtime would
// pick (skipping names containing "meshnet") is copied with upstream's entry
// {"type":"meshnet","name":"meshnet"} appended, into a file that sorts before it
// (00-meshnet.conflist). Unlike upstream, the primary's cniVersion is kept (upstream forced 0.3.0
// and broke CNI 1.0.0 users, meshnet-cni #40), the write is atomic and checked, the file is
// re-derived whenever the primary changes, and the primary's own file is never touched
// (docs/decisions.md). Also writes upstream's meshnet-inter-node-link-type file. Kept when
// meshnetd stops (uninstall.ts says when it goes).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { atomicWrite, installExecutable, sha256hex as sha } from '../install/atomic';
import { chooseConfFile, hasEntry, parseCandidate, serialize, withEntry } from '../install/conflist';
import { ResyncLoop } from '../install/resync';
import type { Logger } from '../log';

export const MESHNET_ENTRY = { type: 'meshnet', name: 'meshnet' } as const;
/** Upstream's file name; a different one only when the primary's name sorts before it. */
export const MESHNET_CONFLIST = '00-meshnet.conflist';
export const LINK_TYPE_FILE = 'meshnet-inter-node-link-type';
const STATE_NAME = '.meshnet-cni-state';

export interface CniInstallerOptions {
  confDir: string;
  binDir: string;
  /** The exec shim to install as <binDir>/meshnet. */
  shim: string;
  interNodeLinkType: 'vxlan' | 'grpc';
  resyncMs: number;
  log: Logger;
}

interface State {
  /** The file we derived ours from, and its hash at the time. */
  primary: string;
  primaryHash: string;
  /** The file we wrote. */
  target: string;
}

const isOurs = (name: string) => name.includes('meshnet');

/** A name for our file that a runtime sorts before `primaryName` ('-' sorts before '.'). */
export function derivedName(primaryName: string): string {
  if (MESHNET_CONFLIST < primaryName) return MESHNET_CONFLIST;
  return `${basename(primaryName, extname(primaryName))}-meshnet.conflist`;
}

export class CniInstaller {
  private loop: ResyncLoop | undefined;
  private lastProblem = '';
  /** True once our entry is in place (readiness). */
  installed = false;

  constructor(private readonly opts: CniInstallerOptions) {}

  private get statePath(): string { return join(this.opts.confDir, STATE_NAME); }
  private get binPath(): string { return join(this.opts.binDir, 'meshnet'); }
  private get linkTypePath(): string { return join(this.opts.confDir, LINK_TYPE_FILE); }

  /** Installs once (throws when the binary cannot be put in place), then keeps it installed. */
  start(): void {
    // A fresh node may not have them yet (the DaemonSet mounts them DirectoryOrCreate).
    mkdirSync(this.opts.binDir, { recursive: true });
    mkdirSync(this.opts.confDir, { recursive: true });
    this.installBinary();
    this.writeLinkType();
    this.loop = new ResyncLoop({ dirs: [this.opts.confDir], resyncMs: this.opts.resyncMs, log: this.opts.log, step: () => this.reconcile() });
    this.loop.run();
    this.loop.start();
  }

  installBinary(): void {
    if (installExecutable(this.opts.shim, this.binPath)) this.opts.log.info(`installed ${this.binPath}`);
  }

  /** Upstream's plugin reads the link type from this file ("VXLAN" or "GRPC", as the env var is written). */
  writeLinkType(): void {
    const text = this.opts.interNodeLinkType.toUpperCase();
    if (existsSync(this.linkTypePath) && readFileSync(this.linkTypePath, 'utf8') === text) return;
    atomicWrite(this.linkTypePath, text, 0o644);
  }

  private loadState(): State | undefined {
    try {
      return JSON.parse(readFileSync(this.statePath, 'utf8')) as State;
    } catch {
      return undefined;
    }
  }

  /** Makes our derived file match the primary; idempotent (no write when it already does). */
  reconcile(): void {
    this.installBinary();
    this.writeLinkType();
    const primary = chooseConfFile(this.opts.confDir, { skip: isOurs });
    const state = this.loadState();
    if (!primary) {
      // No primary: a derived copy of a primary that is gone would keep a dead network alive.
      if (state) this.removeDerived(state, 'the primary CNI config is gone');
      this.installed = false;
      this.problem(`no usable CNI config in ${this.opts.confDir} yet; waiting for the primary CNI`);
      return;
    }
    const target = join(this.opts.confDir, derivedName(basename(primary.path)));
    const primaryHash = sha(primary.bytes);
    if (state && state.target !== target) this.removeDerived(state, `the primary is now ${primary.path}`);
    let cur: Buffer | undefined;
    try { cur = readFileSync(target); } catch { /* not there yet */ }
    const parsed = cur ? parseCandidate(target, cur) : undefined;
    // Up to date when derived from these primary bytes and still holding our entry (another
    // installer may have added its own entry to our file: that is left alone).
    if (state?.target === target && state.primaryHash === primaryHash && parsed && typeof parsed !== 'string' && hasEntry(parsed.list, MESHNET_ENTRY)) {
      this.installed = true;
      return;
    }
    const text = serialize(withEntry(primary.list, { ...MESHNET_ENTRY }));
    atomicWrite(this.statePath, `${JSON.stringify({ primary: primary.path, primaryHash, target } satisfies State)}\n`, 0o600);
    atomicWrite(target, text, primary.mode & 0o666 || 0o644);
    this.installed = true;
    this.lastProblem = '';
    this.opts.log.info(`wrote ${target}: ${primary.path} with meshnet chained (cniVersion ${String(primary.list['cniVersion'] ?? 'unset')} kept)`);
  }

  private removeDerived(s: State, why: string): void {
    if (existsSync(s.target)) {
      rmSync(s.target, { force: true });
      this.opts.log.info(`removed ${s.target}: ${why}`);
    }
    rmSync(this.statePath, { force: true });
  }

  private problem(msg: string): void {
    if (msg !== this.lastProblem) this.opts.log.warn(msg);
    this.lastProblem = msg;
  }

  /** Stops watching; the chained config stays (a restarting daemon's shim answers error 11 meanwhile). */
  stop(): void {
    this.loop?.stop();
  }

  /** Stops watching and removes our config file and the link-type file (the shim stays: harmless without an entry). */
  uninstall(): void {
    this.loop?.stop();
    const s = this.loadState();
    if (s) this.removeDerived(s, 'meshnet is being uninstalled');
    const own = join(this.opts.confDir, MESHNET_CONFLIST);
    if (existsSync(own)) {
      rmSync(own, { force: true });
      this.opts.log.info(`removed ${own}`);
    }
    rmSync(this.linkTypePath, { force: true });
    this.installed = false;
  }
}
