// The embedded store: one JSON file per object under <dir>/<resource>/<namespace>/<name>.json.
// It needs no service, so a CNI plugin process, the lab and tests can share it. Every mutation
// runs under an exclusive flock on <dir>/.lock and writes atomically (temp file + rename), so
// concurrent plugin processes see whole objects and resourceVersions stay monotonic.
import { mkdirSync, readFileSync, writeFileSync, renameSync, readdirSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { lockFile } from '../kernel';
import { StoreError, type Store, type StoredObject } from './store';

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function checkSegment(kind: string, v: string): void {
  if (!SEGMENT.test(v) || v.length > 253) throw new StoreError('Invalid', `invalid ${kind} "${v}"`);
}

export class FileStore implements Store {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  private file(resource: string, namespace: string, name: string): string {
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

  /** Next resourceVersion; called under the lock. */
  private nextVersion(): string {
    const p = join(this.dir, '.rv');
    const n = existsSync(p) ? Number(readFileSync(p, 'utf8')) + 1 : 1;
    writeFileSync(p, String(n));
    return String(n);
  }

  async get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    return this.read(this.file(resource, namespace, name));
  }

  async list(resource: string, namespace?: string): Promise<StoredObject[]> {
    checkSegment('resource', resource);
    const base = join(this.dir, resource);
    const namespaces = namespace !== undefined ? [namespace] : safeReaddir(base);
    const out: StoredObject[] = [];
    for (const ns of namespaces) {
      for (const f of safeReaddir(join(base, ns)).filter((n) => n.endsWith('.json')).sort()) {
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
        metadata: {
          ...obj.metadata,
          resourceVersion: this.nextVersion(),
          uid: randomUUID(),
          creationTimestamp: new Date().toISOString(),
        },
      };
      this.write(path, stored);
      return stored;
    });
  }

  private replace(resource: string, obj: StoredObject, part: 'spec' | 'status'): StoredObject {
    const { namespace, name, resourceVersion } = obj.metadata;
    const path = this.file(resource, namespace, name);
    return this.locked(() => {
      const cur = this.read(path);
      if (!cur) throw new StoreError('NotFound', `${resource} ${namespace}/${name} not found`);
      if (resourceVersion !== undefined && resourceVersion !== cur.metadata.resourceVersion) {
        throw new StoreError('Conflict',
          `${resource} ${namespace}/${name} was modified (resourceVersion ${cur.metadata.resourceVersion}, update based on ${resourceVersion})`);
      }
      const next: StoredObject = part === 'spec'
        ? { ...obj, status: cur.status, metadata: { ...cur.metadata } }
        : { ...cur, status: obj.status, metadata: { ...cur.metadata } };
      if (next.status === undefined) delete next.status;
      next.metadata.resourceVersion = this.nextVersion();
      this.write(path, next);
      return next;
    });
  }

  async update(resource: string, obj: StoredObject): Promise<StoredObject> {
    return this.replace(resource, obj, 'spec');
  }

  async updateStatus(resource: string, obj: StoredObject): Promise<StoredObject> {
    return this.replace(resource, obj, 'status');
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    const path = this.file(resource, namespace, name);
    return this.locked(() => {
      try {
        unlinkSync(path);
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
