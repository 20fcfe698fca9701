// Proof under faults (issue 8): each node's meshnetd is SIGKILLed in turn while frames cross every
// link, and restarted as kubelet restarts a DaemonSet pod. No link is lost, no frame reaches a
// wrong wire, and the time from the kill until every link carries frames again is reported (the
// docs/reliability.md). Four cross-node links without addresses (as KNE makes them), per
// inter-node link type.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, parseLabFile, processGone, restartDaemon, type LabState } from '../../src/lab';
import { probeLinks, type ProbeEnd } from '../../src/lab/checks';

const runDir = mkdtempSync(join(tmpdir(), 'reliab-'));
after(() => rmSync(runDir, { recursive: true, force: true }));

const LINKS: [number, string, string, string, string][] = [[1, 'r1', 'eth1', 'r3', 'eth1'], [2, 'r2', 'eth1', 'r4', 'eth1'], [3, 'r1', 'eth2', 'r4', 'eth2'], [4, 'r2', 'eth2', 'r3', 'eth2']];

function spec(name: string, linkType?: 'grpc') {
  const topo = (pod: string) => ({
    metadata: { name: pod },
    spec: {
      links: LINKS.flatMap(([uid, a, ai, b, bi]) => (a === pod ? [{ uid, peer_pod: b, local_intf: ai, peer_intf: bi }]
        : b === pod ? [{ uid, peer_pod: a, local_intf: bi, peer_intf: ai }] : [])),
    },
  });
  return parseLabFile(JSON.stringify({
    name, ...(linkType ? { inter_node_link_type: linkType } : {}), nodes: ['n1', 'n2'],
    pods: [{ name: 'r1', node: 'n1' }, { name: 'r2', node: 'n1' }, { name: 'r3', node: 'n2' }, { name: 'r4', node: 'n2' }],
    topologies: ['r1', 'r2', 'r3', 'r4'].map(topo),
  }));
}


for (const linkType of [undefined, 'grpc'] as const) {
  test(`SIGKILL of each node's meshnetd under traffic (${linkType ?? 'vxlan'}): every link recovers, no frame reaches a wrong wire`, async (t) => {
    const name = `rl${process.pid % 10000}${randomBytes(2).toString('hex')}`;
    let state: LabState | undefined;
    try {
      state = await labUp(spec(name, linkType), '(reliability)', { runDir, cniBinDir: resolve('dist/cni') });
      const lab = state;
      const ns = (pod: string) => lab.pods.find((p) => p.name === pod)!.netns;
      // Both directions of every link.
      const probes: { a: ProbeEnd; b: ProbeEnd }[] = LINKS.flatMap(([, a, ai, b, bi]) => [
        { a: { netns: ns(a), intf: ai }, b: { netns: ns(b), intf: bi } },
        { a: { netns: ns(b), intf: bi }, b: { netns: ns(a), intf: ai } },
      ]);
      const stats = { misdelivered: 0 };
      const allPass = async () => (await probeLinks(probes, 1, 300, stats)).every((r) => r.received === r.sent);
      assert.ok(await allPass(), 'every link carries frames before the faults');
      // Frames cross every link in rounds, all the time, faults included.
      let stop = false;
      const rounds: { start: number; end: number; ok: boolean }[] = [];
      const traffic = (async () => {
        while (!stop) {
          const start = performance.now();
          const ok = await allPass();
          rounds.push({ start, end: performance.now(), ok });
        }
      })();
      const recovery: number[] = [];
      try {
        for (const node of lab.nodes) {
          const t0 = performance.now();
          process.kill(node.daemonPid!, 'SIGKILL');
          while (!processGone(node.daemonPid!)) await sleep(10);
          await restartDaemon(lab, node);
          let back: { end: number } | undefined;
          while (!back && performance.now() - t0 < 30_000) {
            back = rounds.find((r) => r.start > t0 && r.ok);
            if (!back) await sleep(20);
          }
          assert.ok(back, `every link carries frames again after ${node.name}'s meshnetd was killed`);
          recovery.push(back.end - t0);
        }
      } finally {
        stop = true;
        await traffic;
      }
      assert.ok(await allPass(), 'no link is lost');
      assert.equal(stats.misdelivered, 0, 'no frame reached a wrong wire');
      t.diagnostic(`recovery after SIGKILL + restart (${linkType ?? 'vxlan'}): ${recovery.map((ms, i) => `${lab.nodes[i]!.name} ${(ms / 1000).toFixed(2)} s`).join(', ')}; ` +
        `probe rounds with a frame missing: ${rounds.filter((r) => !r.ok).length} of ${rounds.length}; frames on a wrong wire: ${stats.misdelivered}`);
    } finally {
      await labDown(name, { runDir });
    }
  });
}
