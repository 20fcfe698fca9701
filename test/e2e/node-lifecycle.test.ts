// A node's life under a real runtime (issue 16): pods made through containerd's CRI exactly as a
// kubelet makes them (RunPodSandbox, retried after a failure; StopPodSandbox, RemovePodSandbox),
// one containerd per node in its netns, each node's meshnetd chaining meshnet into the runtime's
// CNI config as the DaemonSet does, Topologies in the Kubernetes API (the API-server double). On one
// node (veth) and two (VXLAN, grpc-wire): the happy path, and the node's life around the daemon —
// a rollout, a crash, pods that come and go while it is away — loses nothing and leaves nothing.
import { test, describe, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listNamedNetns } from '../../src/kernel';
import { cniSocketPath } from '../../src/daemon/cni-socket';
import { deferredDir } from '../../src/daemon/deferred-del';
import { labDaemonPids, labDown, labPrefix, labUp, netnsPath, type LabState } from '../../src/lab';
import { nodeRuntime } from '../../src/lab/containerd-node';
import { processesNaming } from '../../src/runtime/containerd';
import { startKube, type TestKube } from '../helpers/kube';
import { until } from '../helpers/wait';
import {
  daemonLog, hostVeths, leases, leftoversOf, lifecycleSpec, nodeOf, podOf, removePod, runPod, runPodRetried, runningLinksPass,
  sandboxes, startNodeDaemon, stopNodeDaemon, topologies, wireRecords, type Layout,
} from '../helpers/cri-lab';

const runDir = mkdtempSync(join(tmpdir(), 'lifecycle-'));
const cniBinDir = resolve('dist/cni');
let kube: TestKube;
before(async () => { kube = await startKube({ crds: false }); });
after(async () => {
  await kube?.stop();
  rmSync(runDir, { recursive: true, force: true });
});

/** Nothing of the lab is left on this machine: netns, daemons, containerd and its shims, mounts. */
function leftovers(state: LabState): string[] {
  return [
    ...listNamedNetns().filter((n) => n.startsWith(labPrefix(state.name)) || state.pods.some((p) => p.netns === n)),
    ...labDaemonPids(state.name).map((p) => `meshnetd ${p}`),
    ...state.nodes.flatMap((n) => processesNaming(nodeRuntime(state, n).socket).map((p) => `containerd shim ${p}`)),
  ];
}

test('meshnetctl lab up examples/triangle-containerd.yaml: every link passes; status, check and exec work on CRI pods; down leaves no containerd, shim, mount or netns', () => {
  const name = `tc${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  const ctl = (...args: string[]) => spawnSync(process.execPath, ['dist/meshnetctl', ...args], { encoding: 'utf8' });
  try {
    const up = ctl('lab', 'up', 'examples/triangle-containerd.yaml', '--name', name);
    assert.equal(up.status, 0, up.stderr + up.stdout);
    assert.match(up.stdout, /3 of 3 links passed traffic/);
    const st = ctl('lab', 'status', name);
    assert.match(st.stdout, /default\/r3 +node node2 +eth0 10\.244\.1\.\d+ +netns cni-[-0-9a-f]+/);
    const chk = ctl('lab', 'check', name);
    assert.equal(chk.status, 0, chk.stderr + chk.stdout);
    const ex = ctl('lab', 'exec', name, 'r1', '--', 'ping', '-c', '1', '-W', '2', '13.13.13.3');
    assert.equal(ex.status, 0, ex.stderr + ex.stdout);
  } finally {
    const down = ctl('lab', 'down', name);
    assert.equal(down.status, 0, down.stderr);
  }
  assert.deepEqual(listNamedNetns().filter((n) => n.startsWith(labPrefix(name))), []);
  const labProcs = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && readFileSyncSafe(`/proc/${d}/cmdline`).includes(`/meshnet-lab/${name}/`));
  assert.deepEqual(labProcs, [], 'no containerd or shim of the lab runs');
  assert.equal(readFileSyncSafe('/proc/self/mountinfo').includes(`/meshnet-lab/${name}/`), false);
});

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const LAYOUTS: Array<[Layout, string]> = [['veth', '0.3.1'], ['vxlan', '0.4.0'], ['grpc', '1.0.0']];

for (const [layout, cniVersion] of LAYOUTS) {
  describe(`${layout === 'veth' ? 'one node (veth)' : `two nodes (${layout})`}, primary CNI ${cniVersion}`, () => {
    const name = `nl${layout[0]}${process.pid % 1000}${randomBytes(2).toString('hex')}`;
    const { spec, r3 } = lifecycleSpec(name, layout, cniVersion);
    let state: LabState;
    const log = () => state.nodes.map((n) => `--- ${n.name}\n${daemonLog(state, n.name).split('\n').slice(-25).join('\n')}`).join('\n');
    before(async () => {
      state = await labUp(spec, '(node-lifecycle)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    });
    // Each test starts from the lab as it came up: every daemon running, no r3.
    beforeEach(async () => {
      for (const n of state.nodes) if (!n.daemonPid) await startNodeDaemon(state, n);
      const left = podOf(state, 'r3');
      if (left) await removePod(state, left);
    });
    after(async () => {
      const recorded = state ? [...state.pods] : [];
      await labDown(name, { runDir });
      if (state) assert.deepEqual(leftovers({ ...state, pods: recorded }), []);
    });

    test('the happy path: pods from the CRI get eth0 from the primary and every Topology link passes traffic', async () => {
      for (const p of state.pods) assert.match(p.ip ?? '', /^10\.244\.\d+\.\d+$/, `${p.name} has eth0 from host-local`);
      await until('every link to pass', () => runningLinksPass(state), 10_000, log);
      const conf = readdirSync(nodeRuntime(state, state.nodes[0]!).cniConfDir);
      assert.ok(conf.includes('00-meshnet.conflist') && conf.includes('10-lab-bridge.conflist'), conf.join());
    });

    test('a rollout (SIGTERM of meshnetd): meshnet stays chained; a pod sandboxed meanwhile is refused with CNI error 11 and, retried as kubelet retries, gets its links once meshnetd is back, and so does its peer', async () => {
      const node = nodeOf(state, r3.node);
      await stopNodeDaemon(state, node, 'SIGTERM');
      assert.ok(readdirSync(nodeRuntime(state, node).cniConfDir).includes('00-meshnet.conflist'), 'the chained config outlives the daemon');
      // Refused while no daemon runs; kubelet backs off and retries, and the retry lands once it is back.
      await assert.rejects(runPod(state, r3), /meshnetd is not running on this node/);
      const pending = runPodRetried(state, r3);
      await startNodeDaemon(state, node);
      const { failures } = await pending;
      assert.ok(failures.every((f) => /meshnetd is not running on this node/.test(f)), failures.join('\n'));
      await until('r3 and its peer r1 to pass traffic on uid 2', () => runningLinksPass(state, 2), 10_000, log);
      await removePod(state, podOf(state, 'r3')!);
    });

    test('a pod whose sandbox was made while meshnet was not chained (eth0 only) is found by meshnetd and gets its links', async () => {
      const node = nodeOf(state, r3.node);
      await stopNodeDaemon(state, node, 'SIGTERM');
      const rt = nodeRuntime(state, node);
      // What an uninstall leaves: the primary alone.
      const un = spawnSync(process.execPath, ['dist/meshnetd', '--cni-uninstall', '--cni-conf-dir', rt.cniConfDir, '--cni-bin-dir', rt.cniBinDir], { encoding: 'utf8' });
      assert.equal(un.status, 0, un.stderr);
      // containerd follows its conf dir: until it has, a sandbox may still be refused for meshnet.
      const { pod } = await runPodRetried(state, r3);
      assert.deepEqual(linkNames(pod.netns), ['eth0', 'lo'], 'the runtime ran the primary alone');
      await startNodeDaemon(state, node);
      await until('r3 to get its link, and pass traffic', () => runningLinksPass(state, 2), 15_000, log);
      assert.match(daemonLog(state, r3.node), /pod default\/r3 runs on this node .* but its runtime never called meshnet .*: plumbed its links now/);
      await removePod(state, pod);
    });

    test('a pod removed while its node\'s meshnetd is down: its DEL succeeds at once (the primary\'s DEL runs, nothing leaks); meshnetd, back, clears its status, its wire records and far ends', async () => {
      const { pod } = await runPodRetried(state, r3);
      await until('r3 linked', () => runningLinksPass(state, 2), 10_000, log);
      const node = nodeOf(state, r3.node);
      await stopNodeDaemon(state, node, 'SIGKILL');
      await removePod(state, pod);
      // The rest of the chain ran: no lease, no host veth, no sandbox left by the removal.
      assert.equal(leases(state, node).length, state.pods.filter((p) => p.node === node.name).length);
      assert.equal(hostVeths(node).length, state.pods.filter((p) => p.node === node.name).length);
      await startNodeDaemon(state, node);
      await until('nothing of r3 left', async () => (await leftoversOf(state, node, 'r3', pod.netns)).length === 0, 10_000,
        () => `${log()}`);
      // r1's end of the link is taken down or away by its own node (the far pod is gone).
      // r1's end of that link: gone with the veth, removed (VXLAN), or NO-CARRIER until r3 is back (grpc-wire).
      const r1 = podOf(state, 'r1')!.netns;
      await until('r1 to see r3 gone', () => (layout === 'grpc' ? carrier(r1, 'eth2') === false : !linkNames(r1).includes('eth2')), 10_000, log);
      // And it comes back whole.
      await runPodRetried(state, r3);
      await until('r3 linked again', () => runningLinksPass(state, 2), 10_000, log);
      await removePod(state, podOf(state, 'r3')!);
    });

    test('a pod removed while meshnetd is down, its deferred DEL lost too (a reboot empties /run): meshnetd sees its netns gone and treats it as deleted', async () => {
      const { pod } = await runPodRetried(state, r3);
      await until('r3 linked', () => runningLinksPass(state, 2), 10_000, log);
      const node = nodeOf(state, r3.node);
      await stopNodeDaemon(state, node, 'SIGKILL');
      await removePod(state, pod);
      rmSync(deferredDir(cniSocketPath('meshnet', netnsPath(node.netns))), { recursive: true, force: true });
      await startNodeDaemon(state, node);
      await until('nothing of r3 left', async () => (await leftoversOf(state, node, 'r3', pod.netns)).length === 0, 10_000, log);
      assert.match(daemonLog(state, node.name), /default\/r3: its netns \/var\/run\/netns\/cni-[-0-9a-f]+ is gone \(the pod was removed while this daemon was away\): treated as deleted/);
    });

    test('a sandbox refused while meshnetd is down leaves nothing: the runtime\'s cleanup DEL runs through the whole chain', async () => {
      const node = nodeOf(state, r3.node);
      await stopNodeDaemon(state, node, 'SIGKILL');
      try {
        const before = { leases: leases(state, node).length, veths: hostVeths(node).length };
        for (let i = 0; i < 3; i++) await assert.rejects(runPod(state, r3), /meshnetd is not running on this node/);
        assert.deepEqual({ leases: leases(state, node).length, veths: hostVeths(node).length }, before);
        assert.deepEqual((await sandboxes(state, node)).filter((s) => s.name === 'r3'), []);
      } finally {
        await startNodeDaemon(state, node);
      }
    });

    if (layout !== 'veth') {
      test('plumbing_error names the far end a peer node could not make, and keeps naming it until that is no longer so', async () => {
        // r3's node is down; r3 was removed meanwhile (its status still says alive there); r1 is re-created.
        const { pod } = await runPodRetried(state, r3);
        await until('r3 linked', () => runningLinksPass(state, 2), 10_000, log);
        const n2 = nodeOf(state, r3.node);
        await stopNodeDaemon(state, n2, 'SIGKILL');
        await removePod(state, pod);
        await removePod(state, podOf(state, 'r1')!);
        await runPodRetried(state, spec.pods.find((p) => p.name === 'r1')!);
        const error = async () => (await topologies(state)).find((t) => t.metadata.name === 'r1')?.status?.plumbing_error ?? '';
        await until('r1\'s plumbing_error to name the far end on n2', async () => /link uid 2 .*node 192\.0\.2\.12/.test(await error()), 10_000, log);
        // It stays: r1's reconciler asks n2 again (with backoff) and writes nothing over it meanwhile.
        const retries = () => daemonLog(state, 'n1').split('\n').filter((l) => /reconciler: default\/r1: .*link uid 2 .*192\.0\.2\.12.*\(will retry\)/.test(l)).length;
        await until('r1\'s reconciler to have asked n2 again twice', () => retries() >= 2, 10_000, log);
        assert.match(await error(), /link uid 2 .*node 192\.0\.2\.12/);
        // The condition goes (n2's daemon is back: r3's deferred DEL clears its status): so does the error.
        await startNodeDaemon(state, n2);
        await until('r1\'s plumbing_error cleared', async () => (await error()) === '', 15_000, log);
        await until('r1 and r2 linked', () => runningLinksPass(state, 1), 10_000, log);
      });
    }

    if (layout === 'grpc') {
      test('one stale GRPCWireDownRemote from the peer node does not keep a wire down: the far pod is alive and lists the link, so the wire is made again', async () => {
        await until('uid 1 passes', () => runningLinksPass(state, 1), 10_000, log);
        const r2 = podOf(state, 'r2')!;
        // From n1's address, as r1's previous sandbox's DEL would have sent it.
        const n1 = nodeOf(state, 'n1');
        const out = await wireDownFrom(n1.netns, nodeOf(state, 'n2').underlayIp, r2.netns);
        assert.equal(out, 'true');
        await until('r2:eth1 NO-CARRIER', () => carrier(r2.netns, 'eth1') === false, 5000, log);
        await until('the wire made again: uid 1 passes', () => runningLinksPass(state, 1), 15_000, log);
        assert.match(daemonLog(state, 'n2'), /held down for its far pod, but r1 is up and lists the link: making the wire again/);
      });
    }

    test('a rolling restart of every node\'s meshnetd (SIGTERM, then start) while pods are created and removed through the CRI: afterwards every running pod\'s links pass and nothing of a removed pod is left', async () => {
      let stop = false;
      const churned: Array<{ node: string; netns: string }> = [];
      const churn = (async () => {
        while (!stop) {
          const { pod } = await runPodRetried(state, r3);
          await removePod(state, pod);
          churned.push({ node: pod.node, netns: pod.netns });
        }
      })();
      for (const node of state.nodes) {
        const ms = await stopNodeDaemon(state, node, 'SIGTERM');
        assert.match(daemonLog(state, node.name), /meshnet stays chained/);
        await startNodeDaemon(state, node);
        void ms;
      }
      stop = true;
      await churn;
      assert.ok(churned.length > 0, 'pods were created and removed during the rollout');
      await until('every link of the running pods passes', () => runningLinksPass(state, 1), 10_000, log);
      for (const c of churned) {
        await until(`nothing left of a removed r3 (${c.netns})`, async () => (await leftoversOf(state, nodeOf(state, c.node), 'r3', c.netns)).length === 0, 10_000, log);
      }
      for (const n of state.nodes) assert.deepEqual((await wireRecords(state, n)).filter((w) => w.local_pod_name === 'r3'), []);
    });
  });
}

function linkNames(netns: string): string[] {
  const r = spawnSync('ip', ['-n', netns, '-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(r.stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

function carrier(netns: string, intf: string): boolean | undefined {
  const r = spawnSync('ip', ['-n', netns, '-j', 'link', 'show', 'dev', intf], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const l = (JSON.parse(r.stdout) as Array<{ flags: string[] }>)[0];
  return l ? !l.flags.includes('NO-CARRIER') : undefined;
}

/** GRPCWireDownRemote for r2's eth1 (link 1) to n2's daemon, sent from `netns` (a node's). */
async function wireDownFrom(netns: string, target: string, r2Netns: string): Promise<string> {
  const script = `
    const g = await import('${resolve('src/grpc/index.ts')}');
    const c = g.remoteClient('${target}:51111', { timeoutMs: 3000 });
    try {
      console.log(String(await c.grpcWireDownRemote({ wireIfIdOnPeerNode: 0n, peerNodeIp: '', intfNameInPod: 'eth1', localPodNetNs: '${netnsPath(r2Netns)}', linkUid: 1n, localPodName: 'r2', wireIfNameOnLocalNode: '', topoNs: 'default', localPodIp: '' })));
    } catch (e) { console.log(e.message); } finally { c.close(); }`;
  // Asynchronously: the API server double the daemons use runs in this process.
  return new Promise((res, rej) => {
    const c = spawn('nsenter', [`--net=${netnsPath(netns)}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('error', rej);
    c.on('close', () => res(out.trim()));
  });
}
