// Far ends of cross-node links removed as a peer's daemon asks (RemoteExt.RemoveEnd): requests
// that arrive together are carried out as one kernel batch per pod, each answered with its own
// outcome, and only a meshnet VXLAN with exactly the asked VNI and remote VTEP is ever removed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EndRemovals } from '../../src/daemon/remote-service';
import { MESHNET_LINK_GROUP } from '../../src/plumbing/links';
import { removeRemoteEnds } from '../../src/plumbing/far-end';
import { cleanupAllNetns, tempNetns } from '../helpers/netns';

after(cleanupAllNetns);

const PEER = '192.0.2.11';

function podWithEnds(n: number) {
  const pod = tempNetns('re');
  const r = pod.rtnl();
  for (let i = 0; i < n; i++) {
    r.createVxlan({ name: `e${i}`, vni: 9000 + i, local: '192.0.2.12', remote: PEER, dstPort: 4789, devGroup: MESHNET_LINK_GROUP });
  }
  return pod;
}

const names = (pod: ReturnType<typeof tempNetns>) => pod.rtnl().links().map((l) => l.name).filter((x) => x !== 'lo').sort();

test('removals that arrive together are answered one by one and remove only the matching ends', async () => {
  const pod = podWithEnds(4);
  try {
    pod.rtnl().createVxlan({ name: 'other', vni: 9100, local: '192.0.2.12', remote: PEER, dstPort: 4789 }); // not meshnet's group
    const removals = new EndRemovals();
    const ref = (intfName: string, vni: number, peerVtep = PEER) => ({ netNs: `/var/run/netns/${pod.name}`, intfName, vni, peerVtep });
    const outcomes = await Promise.all([
      removals.remove(ref('e0', 9000)),
      removals.remove(ref('e1', 9001)),
      removals.remove(ref('e2', 9999)), // wrong VNI
      removals.remove(ref('e3', 9003, '192.0.2.99')), // another node's link
      removals.remove(ref('other', 9100)), // not made by meshnet
      removals.remove(ref('gone', 9005)),
    ]);
    assert.deepEqual(outcomes, [true, true, false, false, false, false]);
    assert.deepEqual(names(pod), ['e2', 'e3', 'other']);
  } finally {
    pod.cleanup();
  }
});

test('a request with an invalid field is refused before anything is removed', () => {
  const pod = podWithEnds(2);
  try {
    const netNs = `/var/run/netns/${pod.name}`;
    assert.throws(() => removeRemoteEnds([
      { netNs, intfName: 'e0', vni: 9000, peerVtep: PEER },
      { netNs, intfName: 'e1', vni: 0, peerVtep: PEER },
    ]), /RemotePod\.vni: 0 is not a VXLAN id/);
    assert.deepEqual(names(pod), ['e0', 'e1']);
  } finally {
    pod.cleanup();
  }
});

test('every matching end of a pod goes in one call (300 ends)', () => {
  const pod = podWithEnds(300);
  try {
    const netNs = `/var/run/netns/${pod.name}`;
    const refs = Array.from({ length: 300 }, (_, i) => ({ netNs, intfName: `e${i}`, vni: 9000 + i, peerVtep: PEER }));
    assert.ok(removeRemoteEnds(refs).every(Boolean));
    assert.deepEqual(names(pod), []);
  } finally {
    pod.cleanup();
  }
});
