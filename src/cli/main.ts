// meshnetctl: the lab (up / status / check / down) and the demo.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openStore } from '../store';
import { IMPAIRMENT_KEYS, TopologyClient, type ImpairmentKey } from '../topology';
import { versionLine } from '../build';
import {
  LabError, LabFileError, checkLinks, checkPod, formatLinkTable, labDown, labState, labUp, listLabs, readLabFile,
  nodeWires, restartDaemon, saveState, startApiProxy, netnsPath, labApply, capture, parseEndpoint, setCable, impairLink, describeImpairment, graphData, renderDot, renderHtml, renderMermaid,
  type CaptureOptions, type LabFileOptions, type LabState,
} from '../lab';
import type { WireTelemetry } from '../lab';
import { UsageError } from '../errors';

/** Each command's usage, as `meshnetctl lab CMD --help` prints it (and all of them for --help). */
const COMMANDS: [string, string][] = [
  ['demo', `meshnetctl demo [--keep] [FILE]     bring up the 3-pod triangle (or FILE), prove every link, tear down`],
  ['up', `meshnetctl lab up FILE [--no-check] [--name NAME] [--nodes N] [--kubeconfig PATH]
                                      create the lab described by FILE and check its links; FILE is a
                                      lab file or a plain manifest of Topology (and Pod) objects; --name
                                      names the lab (default: the lab file's name, or the manifest's file
                                      name); a manifest's pods are spread over N nodes (default 1);
                                      with --kubeconfig the Topologies live in that Kubernetes API server
                                      (meshnet's CRDs and missing namespaces are created, and removed by down)`],
  ['apply', `meshnetctl lab apply FILE [--no-check] [--name NAME] [--nodes N]
                                      apply an edited FILE to its running lab: Topologies updated (links of
                                      running pods plumbed, removed, re-addressed), pods added, removed or
                                      moved, nodes added; prints what changed, then checks every link`],
  ['status', `meshnetctl lab status [NAME] [--output json]
                                      nodes, pods and link state of a running lab (all labs without NAME)`],
  ['check', `meshnetctl lab check NAME [--output json]
                                      CNI CHECK every pod's chain, then ping across every addressed link`],
  ['exec', `meshnetctl lab exec NAME POD -- CMD run CMD inside a pod's network namespace (POD or NAMESPACE/POD)`],
  ['wires', `meshnetctl lab wires NAME [--output json]
                                      per-wire telemetry of grpc-wire links (carrier, frames, bytes, drops)`],
  ['capture', `meshnetctl lab capture NAME POD:IFACE [-w FILE.pcap | -w -] [-c COUNT] [--duration SECONDS] [FILTER]
                                      capture what a pod's interface sends and receives (any link kind;
                                      FILTER: a tcpdump filter expression such as icmp or 'tcp port 179'):
                                      a pcap file, a pcap stream on stdout (-w -, e.g. | tcpdump -r -),
                                      or decoded lines; stops after COUNT packets, SECONDS or Ctrl-C`],
  ['link', `meshnetctl lab link down|up NAME POD:IFACE
                                      pull a link's cable, or plug it back: both halves of the link in the
                                      Topologies get state: down (or lose it) and the nodes' meshnetd make
                                      both ends follow (a grpc-wire: NO-CARRIER in both pods; other kinds:
                                      both interfaces admin-down); kept through daemon restarts`],
  ['impair', `meshnetctl lab impair NAME POD:IFACE [--delay 20ms] [--jitter 5ms] [--loss 1%] [--rate 100mbit]
                           [--corrupt 0.1%] [--duplicate 1%] [--reorder 25%] | --show | --reset  [--output json]
                                      impair the frames leaving POD:IFACE (as netem on it would), show both
                                      directions' settings and counters, or remove them; kept in the link's
                                      Topology half (impairment:), applied by meshnetd in the grpc-wire
                                      dataplane: a veth or VXLAN link becomes a grpc-wire (link_type: grpc)`],
  ['graph', `meshnetctl lab graph NAME [-o FILE] [--format html|dot|mermaid] [--output json] [--watch SECONDS]
                                      a picture of the lab: nodes, pods and links (kind, interfaces,
                                      addresses) coloured by state, with per-link counters and
                                      impairments; html (default, one self-contained file NAME.html)
                                      or dot / mermaid (stdout unless -o); --output json: the data;
                                      --watch: rewrite the file every SECONDS (the page reloads itself)`],
  ['restart-daemon', `meshnetctl lab restart-daemon NAME NODE  restart one node's meshnetd (its wires are reattached, pods untouched)`],
  ['down', `meshnetctl lab down NAME|FILE       remove everything the lab made`],
];

const USAGE = `usage:\n${COMMANDS.map(([, u]) => `  ${u}`).join('\n')}\n  meshnetctl --version                print the version`;


/** `--name X` and `--nodes N` (for plain manifests) and `--kubeconfig PATH`, removed from `args`. */
function fileOptions(args: string[]): { opts: LabFileOptions; kubeconfig?: string; rest: string[] } {
  const opts: LabFileOptions = {};
  const rest: string[] = [];
  let kubeconfig: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--name' || a === '--nodes' || a === '--kubeconfig') {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--name') opts.name = v;
      else if (a === '--kubeconfig') kubeconfig = v;
      else {
        if (!/^\d+$/.test(v)) throw new UsageError(`--nodes needs a number, got ${JSON.stringify(v)}`);
        opts.nodes = Number(v);
      }
    } else rest.push(a);
  }
  return { opts, ...(kubeconfig !== undefined ? { kubeconfig } : {}), rest };
}

/**
 * Set once the reader of stdout went away (`meshnetctl lab status | head`): the rest of the output
 * is dropped, quietly, and the command still finishes (a `lab up` piped into head must not stop
 * half-way through making the lab).
 */
let stdoutGone = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  stdoutGone = true;
});

function out(s = ''): void {
  if (stdoutGone) return;
  process.stdout.write(`${s}\n`);
}

/** The triangle shipped with the project: next to dist/ when bundled, or in the repo. */
function defaultDemoFile(): string {
  const candidates = [
    process.argv[1] ? join(dirname(resolve(process.argv[1])), '..', 'examples', 'triangle.yaml') : '',
    resolve('examples/triangle.yaml'),
  ];
  const f = candidates.find((c) => c && existsSync(c));
  if (!f) throw new LabError(`examples/triangle.yaml not found (looked in ${candidates.join(', ')})`);
  return f;
}

async function topologiesOf(state: LabState) {
  return new TopologyClient(await openStore(state.store)).list();
}

/** What `lab status` shows, as data (`--output json`). */
function statusOf(state: LabState) {
  return {
    name: state.name, file: state.file, createdAt: state.createdAt,
    store: state.kube ? { kubernetes: state.kube.server, kubeconfig: state.kube.kubeconfig } : state.store,
    nodes: state.nodes.map((n) => ({
      name: n.name, netns: n.netns, underlayIp: n.underlayIp, podSubnet: n.podSubnet,
      meshnetd: n.daemonPid === undefined ? null : { pid: n.daemonPid, running: existsSync(`/proc/${n.daemonPid}`) },
    })),
    pods: state.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.node, netns: p.netns, eth0: p.result?.ips.map((x) => x.address) ?? [] })),
  };
}

function describe(state: LabState): string {
  const lines = [`lab "${state.name}" (from ${state.file}, up since ${state.createdAt})`,
    `store: ${state.kube ? `Kubernetes API ${state.kube.server} (kubeconfig ${state.kube.kubeconfig})` : state.store}`, '', 'NODES'];
  for (const n of state.nodes) {
    const daemon = n.daemonPid === undefined ? 'no meshnetd'
      : existsSync(`/proc/${n.daemonPid}`) ? `meshnetd pid ${n.daemonPid}` : `meshnetd pid ${n.daemonPid} NOT RUNNING`;
    lines.push(`  ${n.name.padEnd(12)} netns ${n.netns}  underlay ${n.underlayIp}  pods ${n.podSubnet}  ${daemon}`);
  }
  lines.push('', 'PODS');
  for (const p of state.pods) {
    const ip = p.result?.ips.map((x) => x.address).join(',') ?? p.ip ?? '(no result)';
    lines.push(`  ${`${p.namespace}/${p.name}`.padEnd(20)} node ${p.node.padEnd(10)} eth0 ${ip.padEnd(16)} netns ${p.netns}`);
  }
  return lines.join('\n');
}

async function showLinks(state: LabState, traffic: boolean): Promise<boolean> {
  const rows = await checkLinks(state, await topologiesOf(state), { traffic });
  out('');
  out(rows.length ? formatLinkTable(rows) : '(no links)');
  const failed = rows.filter((r) => !r.pass).length;
  // A pulled cable that is down as set passes, but is neither up nor proven by traffic.
  const pulled = rows.filter((r) => r.pulled && r.pass).length;
  const pinged = rows.filter((r) => r.traffic).length;
  const ok = rows.length - failed - pulled;
  const pulledNote = pulled ? `; ${pulled} with the cable pulled (lab link up plugs it back)` : '';
  out('');
  if (!traffic) out(`${ok} of ${rows.length} links up${pulledNote}`);
  else if (pinged === ok) out(`${ok} of ${rows.length} links passed traffic${pulledNote}`);
  else out(`${ok} of ${rows.length} links passed (${pinged} with traffic; ${ok - pinged} to host interfaces checked for state only)${pulledNote}`);
  return failed === 0;
}

async function demo(argv: string[]): Promise<number> {
  const { opts, kubeconfig, rest: args } = fileOptions(argv);
  const keep = args.includes('--keep');
  const file = args.find((a) => !a.startsWith('--')) ?? defaultDemoFile();
  const spec = readLabFile(file, opts);
  const t0 = performance.now();
  out(`bringing up lab "${spec.name}": ${spec.nodes.length} node(s), ${spec.pods.length} pods, ` +
    `${spec.topologies.reduce((n, t) => n + t.spec.links.length, 0) / 2} links`);
  const state = await labUp(spec, file, kubeconfig !== undefined ? { kubeconfig } : {});
  let ok = false;
  try {
    out(`up in ${(performance.now() - t0).toFixed(0)} ms`);
    out('');
    out(describe(state));
    ok = await showLinks(state, true);
  } finally {
    if (keep) {
      out(`\nlab kept up: try "node dist/meshnetctl lab status ${spec.name}", "node dist/meshnetctl lab exec ${spec.name} ${state.pods[0]?.name ?? 'POD'} -- ip addr", then "node dist/meshnetctl lab down ${spec.name}"`);
    } else {
      const r = await labDown(spec.name);
      out(`\nlab down: removed ${r.removedNetns} network namespaces, stopped ${r.daemonsStopped} meshnetd` + (r.podErrors.length ? `; DEL errors: ${r.podErrors.join('; ')}` : '')
        + (r.apiErrors.length ? `; API errors: ${r.apiErrors.join('; ')}` : ''));
    }
  }
  return ok ? 0 : 1;
}

/** `--output json` (the only format besides the default table), removed from `args`. */
function outputOption(args: string[]): { json: boolean; rest: string[] } {
  const i = args.indexOf('--output');
  if (i < 0) return { json: false, rest: args };
  const v = args[i + 1];
  if (v !== 'json' && v !== 'table') throw new UsageError(`--output takes json or table, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  return { json: v === 'json', rest: [...args.slice(0, i), ...args.slice(i + 2)] };
}

function outJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** `-w FILE|-`, `-c COUNT`, `--duration SECONDS` of lab capture. */
function captureOptions(args: string[]): { opts: CaptureOptions; rest: string[] } {
  const opts: CaptureOptions = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a !== '-w' && a !== '-c' && a !== '--duration') {
      rest.push(a);
      continue;
    }
    const v = args[++i];
    if (v === undefined) throw new UsageError(`${a} needs a value`);
    if (a === '-w') opts.write = v;
    else if (a === '-c') {
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`-c needs a packet count (a positive whole number), got ${JSON.stringify(v)}`);
      opts.count = Number(v);
    } else {
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new UsageError(`--duration needs a number of seconds above 0, got ${JSON.stringify(v)}`);
      opts.durationS = Number(v);
    }
  }
  return { opts, rest };
}

async function lab(args: string[]): Promise<number> {
  const [sub, ...all] = args;
  if (all.includes('--help') || all.includes('-h') || sub === '--help' || sub === '-h') {
    const entry = COMMANDS.find(([c]) => c === sub);
    out(entry ? `usage: ${entry[1]}` : USAGE);
    return 0;
  }
  const { opts, kubeconfig, rest } = sub === 'up' || sub === 'apply' ? fileOptions(all) : { opts: {}, kubeconfig: undefined, rest: all };
  const positional = rest.filter((a) => !a.startsWith('--'));
  switch (sub) {
    case 'up': {
      const file = positional[0];
      if (!file) throw new UsageError('lab up needs a FILE');
      const spec = readLabFile(file, opts);
      const state = await labUp(spec, file, kubeconfig !== undefined ? { kubeconfig } : {});
      out(describe(state));
      if (rest.includes('--no-check')) return 0;
      return (await showLinks(state, true)) ? 0 : 1;
    }
    case 'apply': {
      const file = positional[0];
      if (!file) throw new UsageError('lab apply needs a FILE');
      const spec = readLabFile(file, opts);
      const changes = await labApply(spec);
      out(changes.length ? changes.join('\n') : `lab "${spec.name}" already matches ${file}: nothing to change`);
      if (rest.includes('--no-check')) return 0;
      // The reconcilers plumb asynchronously: give them a moment before proving every link.
      const state = labState(spec.name);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await checkLinks(state, await topologiesOf(state), { traffic: false })).some((r) => !r.pass)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      return (await showLinks(state, true)) ? 0 : 1;
    }
    case 'status': {
      const { json, rest: args2 } = outputOption(rest);
      const names = args2.filter((a) => !a.startsWith('--')).slice(0, 1);
      if (names.length === 0) names.push(...listLabs());
      if (json) {
        const labs = [];
        for (const name of names) {
          const state = labState(name);
          labs.push({ ...statusOf(state), links: await checkLinks(state, await topologiesOf(state), { traffic: false }) });
        }
        outJson({ labs });
        return 0;
      }
      if (names.length === 0) out('no labs are up');
      for (const name of names) {
        const state = labState(name);
        out(describe(state));
        await showLinks(state, false);
      }
      return 0;
    }
    case 'check': {
      const { json, rest: args2 } = outputOption(rest);
      const name = args2.find((a) => !a.startsWith('--'));
      if (!name) throw new UsageError('lab check needs a NAME');
      const state = labState(name);
      // CNI CHECK through each pod's chain, as a runtime does, then traffic across every link.
      let ok = true;
      const pods: { pod: string; check: 'ok' | 'skipped' | 'failed'; error?: string }[] = [];
      for (const pod of state.pods) {
        const node = state.nodes.find((n) => n.name === pod.node)!;
        try {
          const checked = await checkPod(state, node, pod);
          pods.push({ pod: `${pod.namespace}/${pod.name}`, check: checked ? 'ok' : 'skipped' });
          if (!json) out(`CNI CHECK ${pod.namespace}/${pod.name}: ${checked ? 'ok' : 'skipped (its CNI config predates CHECK, 0.4.0)'}`);
        } catch (e) {
          ok = false;
          pods.push({ pod: `${pod.namespace}/${pod.name}`, check: 'failed', error: (e as Error).message });
          if (!json) out(`CNI CHECK ${pod.namespace}/${pod.name}: FAILED: ${(e as Error).message}`);
        }
      }
      if (json) {
        const links = await checkLinks(state, await topologiesOf(state), { traffic: true });
        const pass = ok && links.every((r) => r.pass);
        outJson({ lab: name, pass, pods, links });
        return pass ? 0 : 1;
      }
      return (await showLinks(state, true)) && ok ? 0 : 1;
    }
    case 'exec': {
      const dash = rest.indexOf('--');
      const [name, podArg] = dash >= 0 ? rest.slice(0, dash) : rest.slice(0, 2);
      const cmd = dash >= 0 ? rest.slice(dash + 1) : rest.slice(2);
      if (!name || !podArg || cmd.length === 0) throw new UsageError('lab exec needs NAME POD -- CMD');
      const state = labState(name);
      const [ns, pod] = podArg.includes('/') ? podArg.split('/', 2) as [string, string] : ['default', podArg];
      const p = state.pods.find((x) => x.name === pod && x.namespace === ns);
      if (!p) throw new LabError(`lab "${name}" has no pod ${ns}/${pod} (pods: ${state.pods.map((x) => x.name).join(', ')})`);
      const r = spawnSync('ip', ['netns', 'exec', p.netns, ...cmd], { stdio: 'inherit' });
      return r.status ?? 1;
    }
    case 'wires': {
      const { json, rest: args2 } = outputOption(rest);
      const name = args2.find((a) => !a.startsWith('--'));
      if (!name) throw new UsageError('lab wires needs a NAME');
      const state = labState(name);
      const header = ['NODE', 'POD INTERFACE', 'PEER NODE', 'CARRIER', 'FRAMES OUT', 'FRAMES IN', 'BYTES OUT', 'BYTES IN', 'KERNEL DROPS'];
      const rows: string[][] = [];
      const all: (WireTelemetry & { node: string })[] = [];
      for (const node of state.nodes) {
        const podOf = (netns: string) => state.pods.find((p) => netns.endsWith(`/${p.netns}`))?.name ?? netns;
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
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [header, ...rows]) out(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
      return 0;
    }
    case 'capture': {
      const { opts: copts, rest: args2 } = captureOptions(all);
      const [name, endpoint, ...filter] = args2;
      if (!name || !endpoint) throw new UsageError('lab capture needs NAME POD:IFACE');
      return capture(parseEndpoint(labState(name), endpoint), { ...copts, ...(filter.length ? { filter } : {}) });
    }
    case 'link': {
      const [dir, name, endpoint] = positional;
      if (dir !== 'down' && dir !== 'up') throw new UsageError(`lab link takes down or up, got ${dir === undefined ? 'nothing' : JSON.stringify(dir)}`);
      if (!name || !endpoint) throw new UsageError(`lab link ${dir} needs NAME POD:IFACE`);
      const state = labState(name);
      const r = await setCable(state, parseEndpoint(state, endpoint), dir === 'down');
      const what = r.down ? 'cable pulled' : 'cable plugged back';
      out(`link uid ${r.uid} ${r.a} - ${r.b}: ${what}${r.seen ? (r.down ? ': both ends without carrier' : ': both ends have carrier') : ' (the pods\' interfaces did not show it within 10 s: is every pod and meshnetd running?)'}`);
      return r.seen ? 0 : 1;
    }
    case 'impair': {
      const { json, rest: args2 } = outputOption(all);
      const set: Partial<Record<ImpairmentKey, string>> = {};
      const pos: string[] = [];
      let show = false;
      let reset = false;
      for (let i = 0; i < args2.length; i++) {
        const a = args2[i]!;
        const key = a.startsWith('--') ? a.slice(2) : '';
        if (a === '--show') show = true;
        else if (a === '--reset') reset = true;
        else if ((IMPAIRMENT_KEYS as readonly string[]).includes(key)) {
          const v = args2[++i];
          if (v === undefined) throw new UsageError(`${a} needs a value`);
          set[key as ImpairmentKey] = v;
        } else if (a.startsWith('-')) throw new UsageError(`lab impair: unknown option ${a}`);
        else pos.push(a);
      }
      const [name, endpoint] = pos;
      if (!name || !endpoint) throw new UsageError('lab impair needs NAME POD:IFACE');
      const setting = Object.keys(set).length > 0;
      if ([setting, show, reset].filter(Boolean).length !== 1) throw new UsageError('lab impair takes impairments to set (--delay, --loss, ...), --show or --reset');
      const state = labState(name);
      const r = await impairLink(state, parseEndpoint(state, endpoint), setting ? { set } : reset ? { reset: true } : {});
      if (json) {
        outJson(r);
        return r.seen || show ? 0 : 1;
      }
      if (r.becameWire) out(`link uid ${r.uid} ${r.a} - ${r.b} is now a grpc-wire (link_type: grpc; it was re-made): impairments live in the wire's dataplane`);
      if (!show) {
        const mine = r.sides[0]!;
        out(`${mine.direction}: ${reset ? 'impairment removed' : `impaired: ${describeImpairment(mine.settings)}`}${r.seen ? '' : ' (written, but meshnetd did not show it within 15 s: is the link up?)'}`);
        return r.seen ? 0 : 1;
      }
      out(`link uid ${r.uid} ${r.a} - ${r.b}`);
      for (const side of r.sides) {
        const c = side.applied?.counters;
        out(`  ${side.direction}: ${describeImpairment(side.settings)}` +
          (c ? `  (lost ${c.lost}, duplicated ${c.duplicated}, corrupted ${c.corrupted}, reordered ${c.reordered}, delayed ${c.delayed}, queue drops ${c.queueDropped}, waiting ${side.applied!.waiting})` : ''));
      }
      return 0;
    }
    case 'graph': {
      const { json, rest: args2 } = outputOption(all);
      let file: string | undefined;
      let format = 'html';
      let watchS: number | undefined;
      const pos: string[] = [];
      for (let i = 0; i < args2.length; i++) {
        const a = args2[i]!;
        if (a === '-o' || a === '--format' || a === '--watch') {
          const v = args2[++i];
          if (v === undefined) throw new UsageError(`${a} needs a value`);
          if (a === '-o') file = v;
          else if (a === '--format') {
            if (!['html', 'dot', 'mermaid'].includes(v)) throw new UsageError(`--format takes html, dot or mermaid, got ${JSON.stringify(v)}`);
            format = v;
          } else {
            if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < 1) throw new UsageError(`--watch needs a number of seconds (1 or more), got ${JSON.stringify(v)}`);
            watchS = Number(v);
          }
        } else if (a.startsWith('-')) throw new UsageError(`lab graph: unknown option ${a}`);
        else pos.push(a);
      }
      const name = pos[0];
      if (!name) throw new UsageError('lab graph needs a NAME');
      const state = labState(name);
      if (json) {
        outJson(await graphData(state));
        return 0;
      }
      const target = file ?? (format === 'html' ? `${name}.html` : '-');
      const render = async () => {
        const g = await graphData(state);
        const text = format === 'dot' ? renderDot(g) : format === 'mermaid' ? renderMermaid(g) : renderHtml(g, watchS ? Math.ceil(watchS) : undefined);
        if (target === '-') process.stdout.write(text);
        else writeFileSync(target, text);
        return g;
      };
      const g = await render();
      if (target !== '-') out(`wrote ${target}: ${g.nodes.length} node(s), ${g.pods.length} pods, ${g.links.length} links${format === 'html' ? ` (open it in a browser${watchS ? `; rewritten every ${watchS} s until Ctrl-C` : ''})` : ''}`);
      if (!watchS) return 0;
      for (;;) {
        await new Promise((r) => setTimeout(r, watchS! * 1000));
        await render();
      }
    }
    case 'restart-daemon': {
      const [name, nodeName] = positional;
      if (!name || !nodeName) throw new UsageError('lab restart-daemon needs NAME NODE');
      const state = labState(name);
      const node = state.nodes.find((n) => n.name === nodeName);
      if (!node) throw new LabError(`lab "${name}" has no node ${nodeName} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
      const pid = await restartDaemon(state, node);
      saveState(state);
      out(`meshnetd for node ${nodeName} restarted: pid ${pid}`);
      return 0;
    }
    case 'down': {
      const arg = positional[0];
      if (!arg) throw new UsageError('lab down needs a NAME or FILE');
      const name = existsSync(arg) && /\.ya?ml$/.test(arg) ? readLabFile(arg).name : arg;
      const r = await labDown(name);
      out(`lab "${name}" down: removed ${r.removedNetns} network namespaces, stopped ${r.daemonsStopped} meshnetd`);
      for (const e of r.podErrors) out(`  DEL error (cleaned up anyway): ${e}`);
      for (const e of r.apiErrors) out(`  Kubernetes API: ${e}`);
      return r.apiErrors.length ? 1 : 0;
    }
    case 'api-proxy': {
      // Internal: started by `lab up --kubeconfig`, tagged --lab NAME so `lab down` finds it.
      const i = rest.indexOf('--lab');
      const name = i >= 0 ? rest[i + 1] : undefined;
      const j = rest.indexOf('--run-dir');
      if (!name) throw new UsageError('lab api-proxy needs --lab NAME');
      return runApiProxy(name, j >= 0 ? rest[j + 1] : undefined);
    }
    default:
      throw new UsageError(sub ? `unknown lab command "${sub}"` : 'lab needs a command');
  }
}

/** The lab's API proxy process: listens in every node netns until SIGTERM. */
async function runApiProxy(name: string, runDir?: string): Promise<number> {
  const state = labState(name, runDir ? { runDir } : {});
  const target = state.kube?.target ?? (state.etcd ? { ip: '127.0.0.1', port: state.etcd.port } : undefined);
  if (!target) throw new LabError(`lab "${name}" has no Kubernetes API server or etcd for its nodes to reach`);
  const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`);
  const proxy = await startApiProxy(target, state.nodes.map((n) => netnsPath(n.netns)), log);
  writeFileSync(join(state.dir, 'api-proxy.ready'), `${process.pid}\n`);
  log(`api proxy for lab ${name}: ${target.ip}:${target.port} reachable from ${state.nodes.length} node(s)`);
  await new Promise<void>((r) => {
    process.once('SIGTERM', () => r());
    process.once('SIGINT', () => r());
  });
  await proxy.close();
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    if (cmd === '--version') { out(versionLine('meshnetctl')); return 0; }
    if (cmd === 'demo' && (args.includes('--help') || args.includes('-h'))) { out(`usage: ${COMMANDS[0]![1]}`); return 0; }
    if (cmd === 'demo') return await demo(args);
    if (cmd === 'lab') return await lab(args);
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      out(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${cmd}"`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`meshnetctl: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof LabError || e instanceof LabFileError) {
      process.stderr.write(`meshnetctl: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`meshnetctl: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
