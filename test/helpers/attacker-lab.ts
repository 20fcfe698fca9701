// A lab of two nodes (r1 on n1, r2 on n2, link uid 1) with another host on its fabric
// (192.0.2.250), for trying meshnetd's port as an attacker on the node network would
// (peer-auth and peer-tls tests), and a way to run a client script from any netns.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { fabricNetns, labDown, labUp, netnsPath, type LabState } from '../../src/lab';
import { twoPods } from './lab-files';

export const ATTACKER_IP = '192.0.2.250';
export const N1 = '192.0.2.11';
export const N2 = '192.0.2.12';

const runDir = mkdtempSync(join(tmpdir(), 'attacker-lab-'));

/** Removes the run directory of every lab made here (call from a test file's after()). */
export function removeRunDir(): void {
  rmSync(runDir, { recursive: true, force: true });
}

/** A two-node lab (r1 on n1, r2 on n2, link uid 1) and an attacker host `${name}-atk` on its fabric; `extra` adds top-level lab-file lines. */
export async function labWithAttacker(name: string, linkType?: 'grpc', extra = ''): Promise<LabState> {
  const lab = await labUp(twoPods(name, { ...(linkType ? { linkType } : {}), extra }), '(attacker-lab)', { runDir, cniBinDir: resolve('dist/cni') });
  // Another host on the node network: a netns with a port on the lab's fabric bridge.
  createNamedNetns(`${name}-atk`);
  const fabric = NetNs.open(netnsPath(fabricNetns(name)));
  const atk = NetNs.open(netnsPath(`${name}-atk`));
  const f = Rtnl.open(fabric);
  const a = Rtnl.open(atk);
  try {
    f.createVeth({ name: 'atk0', peerName: 'eth0', peerNs: atk });
    f.setMaster('atk0', 'fabric0');
    f.setUp('atk0');
    a.addAddr('eth0', `${ATTACKER_IP}/24`);
    a.setUp('eth0');
  } finally {
    f.close();
    a.close();
    fabric.close();
    atk.close();
  }
  return lab;
}

export async function labDownWithAttacker(name: string): Promise<void> {
  if (listNamedNetns().includes(`${name}-atk`)) deleteNamedNetns(`${name}-atk`);
  await labDown(name, { runDir });
}

/**
 * Runs a client script inside `netns` (a host on the fabric); resolves with its output. The script
 * has `g` (src/grpc), `grpcJs` and `loader` (@grpc/proto-loader); an error prints as "CODE message" (a gRPC status by name).
 */
export function from(netns: string, body: string): Promise<string> {
  const script = `
    const g = await import('${resolve('src/grpc/index.ts')}');
    const grpcJs = await import('${resolve('node_modules/@grpc/grpc-js/build/src/index.js')}');
    const loader = await import('${resolve('node_modules/@grpc/proto-loader/build/src/index.js')}');
    try { ${body} } catch (e) { console.log((e.codeName ?? e.code ?? '') + ' ' + e.message); }`;
  return new Promise((res, rej) => {
    const c = spawn('nsenter', [`--net=${netnsPath(netns)}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', rej);
    c.on('close', () => (out.trim() ? res(out.trim()) : rej(new Error(err))));
  });
}
