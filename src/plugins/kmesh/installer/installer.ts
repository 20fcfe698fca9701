// The kmesh-cni installer: keeps a kmesh-cni entry in the node's CNI config, the plugin binary in
// the CNI bin directory and a fresh kubeconfig next to the config, for as long as it runs, and
// takes all three away on SIGTERM/SIGINT leaving the primary's config byte-identical.
//
// Crash safety (kmesh #551/#730): before its first edit of a file the installer records the
// file's original bytes and mode in `<cni-conf-dir>/.kmesh-cni-state` (no CNI extension, so no
// runtime loads it), together with a hash of what it wrote. After a SIGKILL everything stays in
// place and keeps working (entry, binary and kubeconfig are consistent; only token rotation
// stops). A restarted installer adopts that state; its `--uninstall` or a later SIGTERM restores
// the original bytes as long as the file still holds what we wrote, and otherwise (the primary
// rewrote it meanwhile) removes just our entry.
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { atomicWrite, installExecutable, sha256hex as sha } from '../../../install/atomic';
import { chooseConfFile, entryIndex, hasEntry, parseCandidate, serialize, withEntry, withoutEntry } from '../../../install/conflist';
import { ResyncLoop } from '../../../install/resync';
import { kubeconfigText, readServiceAccount } from './kubeconfig-writer';
import type { Logger } from '../../../log';

export const PLUGIN_TYPE = 'kmesh-cni';
const kmeshIndex = (list: Record<string, unknown>) => entryIndex(list, PLUGIN_TYPE);

export interface InstallerOptions {
  confDir: string;
  binDir: string;
  /** A file name in confDir to use instead of choosing one. */
  confName?: string;
  /** The plugin binary to copy to binDir/kmesh-cni. */
  pluginBinary: string;
  serviceAccountDir: string;
  /** API server URL written into the kubeconfig. */
  server: string;
  /** Extra keys of the kmesh-cni entry (netClsRoot, logFile ...). */
  entryExtra: Record<string, unknown>;
  /** Periodic resync, in addition to the directory watches. */
  resyncMs: number;
  log: Logger;
}

export const KUBECONFIG_NAME = 'kmesh-cni-kubeconfig';
export const STATE_NAME = '.kmesh-cni-state';

interface State {
  /** The file the primary wrote (a .conf when we converted it). */
  source: string;
  /** The file we write (same as source for a .conflist). */
  target: string;
  /** Base64 of source's bytes before our first edit; null when unknown (adopted without state). */
  original: string | null;
  mode: number;
  /** sha256 of the bytes we last wrote to target. */
  written: string;
}


export class Installer {
  private loop: ResyncLoop | undefined;

  constructor(private readonly opts: InstallerOptions) {}

  get kubeconfigPath(): string { return join(this.opts.confDir, KUBECONFIG_NAME); }
  private get statePath(): string { return join(this.opts.confDir, STATE_NAME); }
  private get binPath(): string { return join(this.opts.binDir, PLUGIN_TYPE); }

  entry(): Record<string, unknown> {
    return { type: PLUGIN_TYPE, kubeConfig: this.kubeconfigPath, ...this.opts.entryExtra };
  }

  /** Installs once, then watches. Throws when the first install cannot be done (missing token, binary ...). */
  start(): void {
    this.installBinary();
    this.writeKubeconfig();
    this.reconcileConf();
    // A projected token is swapped through a ..data symlink: the directory sees the rename.
    this.loop = new ResyncLoop({ dirs: [this.opts.confDir, this.opts.serviceAccountDir], resyncMs: this.opts.resyncMs, log: this.opts.log, step: () => this.resync() });
    this.loop.start();
  }

  /** Every step, each on its own (a stale token must not stop the config from being kept); failures go to the loop, which logs and retries. */
  resync(): void {
    let first: unknown;
    for (const step of [() => this.installBinary(), () => this.writeKubeconfig(), () => this.reconcileConf()]) {
      try {
        step();
      } catch (e) {
        if (first === undefined) first = e;
        else this.opts.log.warn(`resync failed: ${(e as Error).message}`);
      }
    }
    if (first !== undefined) throw first;
  }

  installBinary(): void {
    if (installExecutable(this.opts.pluginBinary, this.binPath)) this.opts.log.info(`installed ${this.binPath}`);
  }

  writeKubeconfig(): void {
    const text = kubeconfigText(this.opts.server, readServiceAccount(this.opts.serviceAccountDir));
    const path = this.kubeconfigPath;
    if (existsSync(path) && readFileSync(path, 'utf8') === text && (statSync(path).mode & 0o777) === 0o600) return;
    atomicWrite(path, text, 0o600);
    this.opts.log.info(`wrote ${path}`);
  }

  private loadState(): State | undefined {
    try {
      return JSON.parse(readFileSync(this.statePath, 'utf8')) as State;
    } catch {
      return undefined;
    }
  }

  private saveState(s: State): void {
    atomicWrite(this.statePath, `${JSON.stringify(s)}\n`, 0o600);
  }

  /** Makes the chosen config hold our entry; idempotent (no write when it already does). */
  reconcileConf(): void {
    const c = chooseConfFile(this.opts.confDir, this.opts.confName !== undefined ? { configured: this.opts.confName } : {});
    if (c === undefined) {
      this.opts.log.info(`no usable CNI config in ${this.opts.confDir} yet; waiting for the primary CNI`);
      return;
    }
    const entry = this.entry();
    let state = this.loadState();
    // The primary now ships a different file that sorts first: give the old one back.
    if (state !== undefined && state.target !== c.path && state.source !== c.path) {
      this.restore(state);
      state = undefined;
    }
    if (!c.single && hasEntry(c.list, entry)) {
      if (state === undefined || state.target !== c.path) {
        this.saveState({ source: c.path, target: c.path, original: null, mode: c.mode, written: sha(c.bytes) });
      }
      return;
    }
    const text = serialize(withEntry(c.list, entry));
    // The original is known when the file has no entry of ours, or still holds exactly what we wrote.
    let original: string | null;
    if (kmeshIndex(c.list) < 0 || c.single) original = c.bytes.toString('base64');
    else original = state !== undefined && state.target === c.path && state.written === sha(c.bytes) ? state.original : null;
    if (c.single) {
      const target = c.path.slice(0, -extname(c.path).length) + '.conflist';
      // Record first: a SIGKILL between the steps below still leaves a state that restores the .conf.
      this.saveState({ source: c.path, target, original, mode: c.mode, written: sha(text) });
      atomicWrite(target, text, c.mode);
      rmSync(c.path, { force: true });
      this.opts.log.info(`converted ${c.path} to ${target} with a kmesh-cni entry`);
      return;
    }
    this.saveState({ source: c.path, target: c.path, original, mode: c.mode, written: sha(text) });
    atomicWrite(c.path, text, c.mode);
    this.opts.log.info(`inserted kmesh-cni into ${c.path}`);
  }

  /** Gives `s.source` back: its original bytes when the target still holds what we wrote, else the target minus our entry. */
  private restore(s: State): void {
    let cur: Buffer;
    try {
      cur = readFileSync(s.target);
    } catch {
      if (s.original !== null && s.source !== s.target && !existsSync(s.source)) atomicWrite(s.source, Buffer.from(s.original, 'base64'), s.mode);
      return;
    }
    if (sha(cur) === s.written && s.original !== null) {
      atomicWrite(s.source, Buffer.from(s.original, 'base64'), s.mode);
      if (s.source !== s.target) rmSync(s.target, { force: true });
      this.opts.log.info(`restored ${s.source}`);
      return;
    }
    this.removeEntryFrom(s.target, cur);
  }

  private removeEntryFrom(path: string, bytes: Buffer): void {
    const parsed = parseCandidate(path, bytes);
    if (typeof parsed === 'string' || parsed.single || kmeshIndex(parsed.list) < 0) return;
    const rest = withoutEntry(parsed.list, PLUGIN_TYPE);
    if ((rest['plugins'] as unknown[]).length === 0) {
      this.opts.log.info(`${path} holds only kmesh-cni; leaving it`);
      return;
    }
    atomicWrite(path, serialize(rest), statSync(path).mode & 0o7777);
    this.opts.log.info(`removed kmesh-cni from ${path}`);
  }

  /** Removes the entry, kubeconfig, binary and state. Safe to call without a running installer. */
  uninstall(): void {
    this.stop();
    const s = this.loadState();
    if (s !== undefined) this.restore(s);
    // Without state (or besides it): no conflist in the directory may keep an entry of ours.
    for (const name of readdirSync(this.opts.confDir).filter((n) => extname(n) === '.conflist').sort()) {
      const path = join(this.opts.confDir, name);
      try {
        this.removeEntryFrom(path, readFileSync(path));
      } catch (e) {
        this.opts.log.warn(`cannot clean ${path}: ${(e as Error).message}`);
      }
    }
    rmSync(this.kubeconfigPath, { force: true });
    rmSync(this.binPath, { force: true });
    rmSync(this.statePath, { force: true });
    this.opts.log.info('uninstalled kmesh-cni');
  }

  stop(): void {
    this.loop?.stop();
  }
}
