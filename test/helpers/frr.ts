/**
 * FRR's zebra and ospfd inside a pod's network namespace, for tests that need a real routing
 * protocol to notice a link event. Everything (config, pid files, the zserv and vty sockets)
 * lives in one temporary directory owned by the frr user, so nothing of the host's FRR (if any)
 * is touched; stop() kills both daemons and removes the directory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OspfRouter {
  /** Neighbours as `routerId state`, e.g. `3.3.3.3 Full/-`. */
  neighbors(): string[];
  stop(): void;
}

const FRR = '/usr/lib/frr';

function frrIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'frr'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'frr'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Starts OSPF (point-to-point, hello 1 s, dead 3 s) on `intfs` of the pod in `netns`. */
export function startOspf(netns: string, routerId: string, intfs: { name: string; network: string }[]): OspfRouter {
  const dir = mkdtempSync(join(tmpdir(), 'frr-'));
  const { uid, gid } = frrIds();
  writeFileSync(join(dir, 'zebra.conf'), '');
  writeFileSync(join(dir, 'ospfd.conf'), [
    `hostname r${routerId}`, 'router ospf', ` ospf router-id ${routerId}`,
    ...intfs.map((i) => ` network ${i.network} area 0`),
    ...intfs.flatMap((i) => [`interface ${i.name}`, ' ip ospf network point-to-point', ' ip ospf hello-interval 1', ' ip ospf dead-interval 3']),
  ].join('\n') + '\n');
  for (const f of ['', 'zebra.conf', 'ospfd.conf']) chownSync(join(dir, f), uid, gid);
  const stop = () => {
    for (const d of ['ospfd', 'zebra']) {
      const pidFile = join(dir, `${d}.pid`);
      if (!existsSync(pidFile)) continue;
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const d of ['zebra', 'ospfd']) {
      // -d: each daemon forks into the background and writes its pid file; -P 0: no TCP vty.
      execFileSync('ip', ['netns', 'exec', netns, join(FRR, d), '-d', '-f', join(dir, `${d}.conf`), '-i', join(dir, `${d}.pid`),
        '-z', join(dir, 'zserv.api'), '--vty_socket', dir, '-A', '127.0.0.1', '-P', '0'], { stdio: 'ignore' });
    }
  } catch (e) {
    stop();
    throw e;
  }
  return {
    neighbors() {
      const r = spawnSync('ip', ['netns', 'exec', netns, 'vtysh', '--vty_socket', dir, '-c', 'show ip ospf neighbor'], { encoding: 'utf8' });
      return r.stdout.split('\n').map((l) => /^(\d+\.\d+\.\d+\.\d+)\s+\d+\s+(\S+)/.exec(l)).filter((m) => m !== null).map((m) => `${m[1]} ${m[2]}`);
    },
    stop,
  };
}
