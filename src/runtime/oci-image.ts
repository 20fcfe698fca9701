// OCI image archives made locally (no registry is reachable from a lab machine): an image layout
// (oci-layout, index.json, blobs/sha256/...) in one tar, as `ctr images import` takes it. The
// index names the image with containerd's annotation, so the import tags it exactly as `ref`.
import { createHash } from 'node:crypto';
import { createReadStream, openSync, closeSync, statSync, writeSync } from 'node:fs';
import { BLOCK, header, tar, type TarEntry } from './tar';

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The OCI name of this machine's architecture (Node's `process.arch`). */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const a = map[arch];
  if (!a) throw new Error(`no OCI architecture for Node's ${arch}`);
  return a;
}

/**
 * An OCI archive of one image named `ref` (e.g. `localhost/meshnet-pause:1`) for this machine's
 * platform, from uncompressed layer tars (lowest first) and its run configuration.
 */
export function ociArchive(ref: string, layers: Buffer[], config: ImageConfig): Buffer {
  const blobs = new Map<string, Buffer>();
  const blob = (b: Buffer) => {
    const d = sha256(b);
    blobs.set(d, b);
    return { digest: d, size: b.length };
  };
  const { entries } = ociLayout(ref, layers.map((l) => ({ ...blob(l) })), config, blob);
  return tar([...entries, ...[...blobs].map(([d, data]) => ({ name: `blobs/sha256/${d.slice('sha256:'.length)}`, data }))]);
}

/**
 * The layout's small files (oci-layout, index.json, the config and manifest blobs, through
 * `blob`) for layers already digested; the layers' own blobs are the caller's to write.
 */
function ociLayout(ref: string, layers: Array<{ digest: string; size: number }>, config: ImageConfig, blob: (b: Buffer) => { digest: string; size: number }): { entries: TarEntry[] } {
  const layerDescs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }));
  const cfg = Buffer.from(JSON.stringify({
    architecture: ociArch(), os: 'linux',
    config: {
      ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
      ...(config.cmd ? { Cmd: config.cmd } : {}),
      Env: config.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(cfg) },
    layers: layerDescs,
  }));
  const m = blob(manifest);
  const tag = ref.slice(ref.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m,
      platform: { architecture: ociArch(), os: 'linux' },
      annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag },
    }],
  };
  return {
    entries: [
      { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
      { name: 'blobs/', mode: 0o755 },
      { name: 'blobs/sha256/', mode: 0o755 },
    ],
  };
}

/**
 * Writes to `out` an OCI archive of one image named `ref` whose only layer is the root
 * filesystem tar at `rootfs` (as `docker import` makes one: mmdebstrap's output, say), streamed:
 * a router's root filesystem is hundreds of MB.
 */
export async function ociArchiveFromRootfs(ref: string, rootfs: string, out: string, config: ImageConfig): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(rootfs)) hash.update(chunk as Buffer);
  const layer = { digest: `sha256:${hash.digest('hex')}`, size: statSync(rootfs).size };
  const small = new Map<string, Buffer>();
  const blob = (b: Buffer) => {
    const d = sha256(b);
    small.set(d, b);
    return { digest: d, size: b.length };
  };
  const { entries } = ociLayout(ref, [layer], config, blob);
  const head = tar([...entries, ...[...small].map(([d, data]) => ({ name: `blobs/sha256/${d.slice('sha256:'.length)}`, data }))]);
  const fd = openSync(out, 'w');
  try {
    writeSync(fd, head.subarray(0, head.length - 2 * BLOCK)); // without its end-of-archive blocks
    writeSync(fd, header({ name: `blobs/sha256/${layer.digest.slice('sha256:'.length)}` }, layer.size, false));
    for await (const chunk of createReadStream(rootfs)) writeSync(fd, chunk as Buffer);
    writeSync(fd, Buffer.alloc((BLOCK - (layer.size % BLOCK)) % BLOCK + 2 * BLOCK));
  } finally {
    closeSync(fd);
  }
}

/** A layer holding `files` (path in the image → contents and mode), with their parent directories. */
export function layerOf(files: Array<{ path: string; data?: Buffer; mode?: number; link?: string }>): Buffer {
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.replace(/^\/+/, '').split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`${parts.slice(0, i).join('/')}/`);
  }
  return tar([
    ...[...dirs].sort().map((name) => ({ name })),
    ...files.map((f) => ({ name: f.path.replace(/^\/+/, ''), ...(f.data ? { data: f.data } : {}), ...(f.link !== undefined ? { link: f.link } : {}), ...(f.mode !== undefined ? { mode: f.mode } : {}) })),
  ]);
}
