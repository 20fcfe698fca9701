// `meshnetctl lab graph` (issue 10) on the ring150 example: the HTML file is self-contained (no
// fetches), and a real headless browser (Debian's chromium) renders every pod and every link of
// it; dot, Mermaid and JSON carry the same lab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { labDown, labUp, parseLabFile } from '../../src/lab';
import { readPng } from '../helpers/png';

/** The colours renderHtml draws with (src/lab/graph.ts): node n1's pods, an up link, a down link. */
const COLOURS = { pod: '#1565c0', up: '#2e7d32', down: '#c62828' };

const ctl = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/meshnetctl'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const name = `gr${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'graph-'));
const html = join(dir, 'ring.html');

before(async () => {
  await labUp({ ...parseLabFile(readFileSync('examples/ring150.yaml', 'utf8')), name }, 'examples/ring150.yaml', { cniBinDir: resolve('dist/cni') });
  const r = ctl('lab', 'graph', name, '-o', html);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*ring\.html: 1 node\(s\), 150 pods, 150 links/);
});

after(async () => {
  await labDown(name);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs headless chromium on the file with `args`; its stdout. */
function chromium(...args: string[]): string {
  const r = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${join(dir, 'profile')}`, ...args, `file://${html}`],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return r.stdout;
}

test('the HTML file fetches nothing when opened: no src, href, url() or @import', () => {
  const text = readFileSync(html, 'utf8');
  assert.doesNotMatch(text, /\s(src|href)=|url\(|@import|<script/i);
  // The only URL in it is the SVG namespace, which is a name, not a fetch.
  assert.deepEqual([...text.matchAll(/https?:\/\/[^\s"']+/g)].map((m) => m[0]), ['http://www.w3.org/2000/svg']);
});

test('headless chromium renders every pod and every link of the 150-pod ring, each link up', () => {
  const dom = chromium('--dump-dom');
  assert.equal(dom.match(/<g class="pod"/g)?.length, 150);
  assert.equal(dom.match(/<line class="link[^"]*" data-uid="\d+" data-state="up"/g)?.length, 150);
  assert.equal(new Set([...dom.matchAll(/data-pod="default\/(r\d+)"/g)].map((m) => m[1])).size, 150);
});

test('a screenshot by headless chromium shows the pods in their node\'s colour and the links green (up), none red', () => {
  const png = join(dir, 'ring.png');
  chromium(`--screenshot=${png}`, '--window-size=1400,1500');
  const picture = readPng(readFileSync(png));
  // 150 pods of radius 7 in the node's colour (about 130 solid pixels each once anti-aliased)...
  assert.ok(picture.count(COLOURS.pod) >= 150 * 100, `pod pixels: ${picture.count(COLOURS.pod)}`);
  // ...150 links drawn green (the legend's swatch alone is 22x3 = 66 pixels)...
  assert.ok(picture.count(COLOURS.up) >= 1000, `up-link pixels: ${picture.count(COLOURS.up)}`);
  // ...and the only red is the legend's 22x3 swatch: a red link anywhere would widen this box.
  const red = picture.box(COLOURS.down);
  assert.ok(red && red.width <= 22 && red.height <= 3, `red pixels span ${JSON.stringify(red)}`);
});

test('--format dot and --format mermaid carry every pod and link, grouped by node (ring150 has one)', () => {
  const dot = ctl('lab', 'graph', name, '--format', 'dot');
  assert.equal(dot.status, 0, dot.stderr);
  assert.equal(dot.stdout.match(/ -- /g)?.length, 150);
  assert.equal(dot.stdout.match(/subgraph "cluster_/g)?.length, 1);
  const mm = ctl('lab', 'graph', name, '--format', 'mermaid');
  assert.equal(mm.status, 0, mm.stderr);
  assert.match(mm.stdout, /^graph LR\n/);
  assert.equal(mm.stdout.match(/ ---\|/g)?.length, 150);
});

test('--output json gives the graph data: nodes, pods, links with their ends\' counters', () => {
  const r = ctl('lab', 'graph', name, '--output', 'json');
  assert.equal(r.status, 0, r.stderr);
  const g = JSON.parse(r.stdout) as { nodes: unknown[]; pods: unknown[]; links: { state: string; a: { counters?: { txPackets: number } } }[] };
  assert.deepEqual([g.nodes.length, g.pods.length, g.links.length], [1, 150, 150]);
  assert.ok(g.links.every((l) => l.state === 'up' && typeof l.a.counters?.txPackets === 'number'));
});
