// The embedded store: one JSON file per object under <dir>/<resource>/<namespace>/<name>.json.
// It needs no service, so a CNI plugin process, the lab and tests can share it. Every mutation
// runs under an exclusive flock on <dir>/.lock and writes atomically (temp file + rename), so
// concurrent plugin processes see whole objects and resourceVersions stay monotonic.
import { mkdirSync, readFileSync, writeFileSync, renameSync, readdirSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { lockFile } from '../kernel';
import { ModifyStore } from './modify-store';
import { abortableSleep, reflect, type WatchSource } from './reflector';
import { resourceInfo } from './resources';
import { StoreError, type Store, type StoredObject, type StoreWatch, type WatchEvent, type WatchOptions } from './store';

/** How often a watch looks at the store's version counter. */
const WATCH_POLL_MS = 100;

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function checkSegment(kind: string, v: string): void {
  if (!SEGMENT.test(v) || v.length > 253) throw new StoreError('Invalid', `invalid ${kind} "${v}"`);
}

export class FileStore extends ModifyStore implements Store {
  readonly dir: string;

  constructor(dir: string) {
    super();
    this.dir = dir;
  }

  private file(resource: string, namespace: string, name: string): string {
    resourceInfo(resource);
    checkSegment('resource', resource);
    checkSegment('namespace', namespace);
    checkSegment('name', name);
    return join(this.dir, resource, namespace, `${name}.json`);
  }

  private locked<T>(fn: () => T): T {
    mkdirSync(this.dir, { recursive: true });
    const lock = lockFile(join(this.dir, '.lock'));
    try {
      return fn();
    } finally {
      lock.release();
    }
  }

  private read(path: string): StoredObject | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return JSON.parse(text) as StoredObject;
  }

  private write(path: string, obj: StoredObject): void {
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(obj));
    renameSync(tmp, path);
  }

  /**
   * Next resourceVersion; called under the lock. Written as the objects are (temp file, rename):
   * a watcher polling it without the lock must never read it half-written.
   */
  private nextVersion(): string {
    const p = join(this.dir, '.rv');
    const n = existsSync(p) ? Number(readFileSync(p, 'utf8')) + 1 : 1;
    const tmp = `${p}.${process.pid}.tmp`;
    writeFileSync(tmp, String(n));
    renameSync(tmp, p);
    return String(n);
  }

  async get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    return this.read(this.file(resource, namespace, name));
  }

  private currentVersion(): string {
    try {
      return readFileSync(join(this.dir, '.rv'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '0';
      throw e;
    }
  }

  async list(resource: string, namespace?: string, name?: string): Promise<StoredObject[]> {
    return this.listNow(resource, namespace, name);
  }

  private listNow(resource: string, namespace?: string, name?: string): StoredObject[] {
    resourceInfo(resource);
    checkSegment('resource', resource);
    if (namespace !== undefined) checkSegment('namespace', namespace);
    if (name !== undefined) checkSegment('name', name);
    const base = join(this.dir, resource);
    const namespaces = namespace !== undefined ? [namespace] : safeReaddir(base);
    const out: StoredObject[] = [];
    for (const ns of namespaces) {
      for (const f of safeReaddir(join(base, ns)).filter((n) => (name !== undefined ? n === `${name}.json` : n.endsWith('.json'))).sort()) {
        const o = this.read(join(base, ns, f));
        if (o) out.push(o);
      }
    }
    return out;
  }

  async create(resource: string, obj: StoredObject): Promise<StoredObject> {
    const path = this.file(resource, obj.metadata.namespace, obj.metadata.name);
    return this.locked(() => {
      if (existsSync(path)) {
        throw new StoreError('AlreadyExists', `${resource} ${obj.metadata.namespace}/${obj.metadata.name} already exists`);
      }
      const stored: StoredObject = {
        ...obj,
        ...(resourceInfo(resource).statusSubresource ? { status: undefined } : {}),
        metadata: {
          ...obj.metadata,
          resourceVersion: this.nextVersion(),
          uid: randomUUID(),
          creationTimestamp: new Date().toISOString(),
        },
      };
      if (stored.status === undefined) delete stored.status;
      this.write(path, stored);
      return stored;
    });
  }

  /** Read-modify-write under the lock; `resourceVersion` (when set) must be the stored one. */
  protected modify(resource: string, namespace: string, name: string, resourceVersion: string | undefined,
    change: (cur: StoredObject) => StoredObject): StoredObject {
    const path = this.file(resource, namespace, name);
    return this.locked(() => {
      const cur = this.read(path);
      if (!cur) throw new StoreError('NotFound', `${resource} ${namespace}/${name} not found`);
      if (resourceVersion !== undefined && resourceVersion !== cur.metadata.resourceVersion) {
        throw new StoreError('Conflict',
          `${resource} ${namespace}/${name} was modified (resourceVersion ${cur.metadata.resourceVersion}, update based on ${resourceVersion})`);
      }
      const next = change(cur);
      if (next.status === undefined) delete next.status;
      next.metadata.resourceVersion = this.nextVersion();
      this.write(path, next);
      return next;
    });
  }

  /**
   * Polls the store's version counter; when it moved, the reflector lists again and delivers
   * the difference (the files hold no change history to stream from).
   */
  watch(resource: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): StoreWatch {
    const source: WatchSource = {
      // Under the lock: a writer bumps the version counter before it writes the object, so an
      // unlocked list could pair the new version with the old object and never list again: the
      // change was lost to this watch until the next write (found as a lab link or impairment
      // change that meshnetd never applied).
      list: async () => this.locked(() => ({ resourceVersion: this.currentVersion(), items: this.listNow(resource, namespace) })),
      stream: async (rv, _onEvent, _onProgress, signal) => {
        while (!signal.aborted) {
          if (this.currentVersion() !== rv) return 'relist';
          await abortableSleep(WATCH_POLL_MS, signal);
        }
        return undefined;
      },
    };
    return reflect(source, onEvent, opts);
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    const path = this.file(resource, namespace, name);
    return this.locked(() => {
      try {
        unlinkSync(path);
        this.nextVersion(); // watchers notice deletions by the counter too
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
