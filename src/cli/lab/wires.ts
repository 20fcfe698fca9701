import { labState, nodeWires, type WireTelemetry } from '../../lab';
import { UsageError } from '../../errors';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { formatTable, out, outJson } from '../output';

export const wires: Command = {
  name: 'wires',
  usage: `meshnetctl lab wires NAME [--output json]
                                      per-wire telemetry of grpc-wire links (carrier, frames, bytes, drops)`,
  options: OUTPUT_OPTION,
  async run(p) {
    const json = wantsJson(p);
    const name = p.positionals[0];
    if (!name) throw new UsageError('lab wires needs a NAME');
    const state = labState(name);
    const rows: string[][] = [];
    const all: (WireTelemetry & { node: string })[] = [];
    for (const node of state.nodes) {
      const podOf = (netns: string) => state.pods.find((x) => netns.endsWith(`/${x.netns}`))?.name ?? netns;
      for (const w of await nodeWires(node)) {
        all.push({ node: node.name, ...w });
        rows.push([node.name, `${podOf(w.podNetns)}:${w.podIntf}`, w.peerNode, w.carrier ? 'up' : w.farGone ? 'DOWN (far pod gone)' : 'DOWN',
          String(w.framesFromPod), String(w.framesToPod), String(w.bytesFromPod), String(w.bytesToPod), String(w.kernelDrops)]);
      }
    }
    if (json) {
      outJson({ lab: name, wires: all });
      return 0;
    }
    if (rows.length === 0) {
      out('no grpc-wires (the lab links nodes with VXLAN unless inter_node_link_type: grpc)');
      return 0;
    }
    out(formatTable(['NODE', 'POD INTERFACE', 'PEER NODE', 'CARRIER', 'FRAMES OUT', 'FRAMES IN', 'BYTES OUT', 'BYTES IN', 'KERNEL DROPS'], rows));
    return 0;
  },
};
