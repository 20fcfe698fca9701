// Images for the lab's container pods (issue 18). A lab machine often reaches no registry, and
// vendor router images ship as tarballs (cEOS, XRd): `meshnetctl lab image import FILE` keeps an
// OCI or docker-save archive in the lab's image directory under the names it carries, and
// `lab up` gives each node's containerd the images its pods name, from there or, failing that,
// pulled as containerd pulls. An image that cannot be had stops `lab up` before any pod starts.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isGzip, readTarMembers } from '../runtime/tar-read';
import { ociArchiveFromRootfs } from '../runtime/oci-image';
import { isImageRef } from './container-spec';
import { LabError } from './errors';

/** Where imported archives are kept (MESHNET_LAB_IMAGES overrides it): they outlive every lab. */
export function labImageDir(): string {
  return process.env.MESHNET_LAB_IMAGES || '/var/lib/meshnet-lab/images';
}

export interface StoredImage {
  /** The image's name as containerd knows it after an import (normalizeRef). */
  ref: string;
  /** The archive, in the image directory. */
  file: string;
  /** What was imported: an image archive, or a root filesystem tar made into a one-layer image. */
  format: 'oci' | 'docker' | 'rootfs';
  bytes: number;
  importedAt: string;
  /** The file it was imported from. */
  source: string;
}

/**
 * A reference as containerd names an image: a bare name is Docker Hub's (`busybox` is
 * `docker.io/library/busybox:latest`); a first part with a dot or a port, or `localhost`, is a
 * registry.
 */
export function normalizeRef(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let out = hasDomain ? ref : slash < 0 ? `docker.io/library/${ref}` : `docker.io/${ref}`;
  const lastPart = out.slice(out.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !out.includes('@')) out += ':latest';
  return out;
}

/**
 * The image names an OCI layout or docker-save archive carries, and which of the two it is; any
 * other tar is a root filesystem (no names).
 */
export async function archiveImages(path: string): Promise<{ format: 'oci' | 'docker' | 'rootfs'; refs: string[] }> {
  let members: Map<string, Buffer>;
  try {
    members = await readTarMembers(path, (n) => n === 'index.json' || n === 'manifest.json' || n === 'oci-layout');
  } catch (e) {
    throw new LabError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const json = (name: string): unknown => {
    try {
      return JSON.parse(members.get(name)!.toString('utf8')) as unknown;
    } catch (e) {
      throw new LabError(`${path}: its ${name} is not JSON: ${(e as Error).message}`);
    }
  };
  if (members.has('manifest.json')) {
    // docker save: [{Config, RepoTags, Layers}]
    const m = json('manifest.json');
    const refs = Array.isArray(m) ? m.flatMap((x) => (Array.isArray((x as { RepoTags?: unknown }).RepoTags) ? (x as { RepoTags: unknown[] }).RepoTags : [])) : [];
    return { format: 'docker', refs: refs.filter((r): r is string => typeof r === 'string').map(normalizeRef) };
  }
  if (members.has('index.json') && members.has('oci-layout')) {
    const idx = json('index.json') as { manifests?: Array<{ annotations?: Record<string, string> }> };
    const refs = (idx.manifests ?? []).map((d) => d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'])
      .filter((r): r is string => typeof r === 'string' && isImageRef(r) && r.includes(':'));
    return { format: 'oci', refs: refs.map(normalizeRef) };
  }
  return { format: 'rootfs', refs: [] };
}

const indexFile = (dir: string) => join(dir, 'images.json');

export function listStoredImages(dir = labImageDir()): StoredImage[] {
  try {
    return JSON.parse(readFileSync(indexFile(dir), 'utf8')) as StoredImage[];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new LabError(`the lab's image list ${indexFile(dir)} cannot be read: ${(e as Error).message}`);
  }
}

function saveIndex(dir: string, images: StoredImage[]): void {
  const tmp = `${indexFile(dir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(images, null, 2)}\n`);
  renameSync(tmp, indexFile(dir));
}

/**
 * Keeps the archive at `path` in the image directory under the names it carries; a name imported
 * before now means this archive. Nothing is kept when the archive names no image.
 */
export async function importImageArchive(path: string, opts: { name?: string; dir?: string } = {}): Promise<StoredImage[]> {
  const dir = opts.dir ?? labImageDir();
  const { format, refs } = await archiveImages(path);
  if (opts.name !== undefined && !isImageRef(opts.name)) throw new LabError(`--name: ${JSON.stringify(opts.name)} is not an image reference (such as localhost/frr:9)`);
  if (format === 'rootfs' && opts.name === undefined) {
    throw new LabError(`${path} is a plain tar (no OCI index.json, no docker manifest.json): as a root filesystem it becomes an image with --name REF`);
  }
  if (format === 'rootfs' && isGzip(path)) throw new LabError(`${path} is a compressed root filesystem tar: decompress it first (gunzip), then import it with --name`);
  if (format !== 'rootfs' && opts.name !== undefined) throw new LabError(`--name applies to a root filesystem tar; ${path} is a ${format} image archive with its own names (${refs.join(', ') || 'none'})`);
  if (format !== 'rootfs' && refs.length === 0) throw new LabError(`${path} names no image (no RepoTags in its manifest.json, no io.containerd.image.name in its index.json): containerd would import it without a name`);
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString();
  const file = join(dir, `${stamp.replace(/[:.]/g, '-')}-${basename(path).replace(/[^\w.-]/g, '_')}${format === 'rootfs' ? '.oci.tar' : ''}`);
  if (format === 'rootfs') {
    refs.push(normalizeRef(opts.name!));
    await ociArchiveFromRootfs(refs[0]!, path, file, { cmd: ['/bin/sh'] });
  } else {
    copyFileSync(path, file);
  }
  const bytes = statSync(file).size;
  const added = refs.map((ref) => ({ ref, file, format, bytes, importedAt: stamp, source: path }));
  const before = listStoredImages(dir);
  const kept = before.filter((i) => !refs.includes(i.ref));
  saveIndex(dir, [...kept, ...added]);
  // An archive that no name points at any more (all its names re-imported from another) goes.
  const used = new Set([...kept, ...added].map((i) => i.file));
  for (const old of new Set(before.map((i) => i.file))) if (!used.has(old)) rmSync(old, { force: true });
  return added;
}

/** The stored archive that holds `ref`, if any. */
export function storedImage(ref: string, dir = labImageDir()): StoredImage | undefined {
  const want = normalizeRef(ref);
  return listStoredImages(dir).find((i) => i.ref === want);
}
