// meshnetd's Prometheus exposition: conventions a scraper and a reader rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../../src/daemon/metrics';

test('every family has help and type lines, and the common labels go on every series', () => {
  const reg = new MetricsRegistry({ node: 'n1' });
  reg.counter('meshnetd_things_total', 'Things done.', ['kind']).inc({ kind: 'a' }, 2);
  reg.collect('meshnetd_wires', 'Wires.', 'gauge', () => [[{}, 3]]);
  assert.equal(reg.text(), [
    '# HELP meshnetd_things_total Things done.', '# TYPE meshnetd_things_total counter', 'meshnetd_things_total{node="n1",kind="a"} 2',
    '# HELP meshnetd_wires Wires.', '# TYPE meshnetd_wires gauge', 'meshnetd_wires{node="n1"} 3', ''].join('\n'));
});

test('a histogram has cumulative buckets, +Inf, sum and count per label set', () => {
  const reg = new MetricsRegistry();
  const h = reg.histogram('x_seconds', 'X.', ['command'], [0.1, 1]);
  h.observe({ command: 'ADD' }, 0.05);
  h.observe({ command: 'ADD' }, 0.5);
  h.observe({ command: 'ADD' }, 5);
  const lines = reg.text().split('\n');
  assert.deepEqual(lines.slice(2, 7), [
    'x_seconds_bucket{command="ADD",le="0.1"} 1', 'x_seconds_bucket{command="ADD",le="1"} 2', 'x_seconds_bucket{command="ADD",le="+Inf"} 3',
    'x_seconds_sum{command="ADD"} 5.55', 'x_seconds_count{command="ADD"} 3']);
});

test('a counter whose name does not end in _total is refused', () => {
  assert.throws(() => new MetricsRegistry().counter('meshnetd_things', 'Things.'), /must end in _total/);
});

test('label values are escaped (quotes, backslashes, newlines)', () => {
  const reg = new MetricsRegistry();
  reg.collect('g', 'G.', 'gauge', () => [[{ pod: 'a"b\\c\nd' }, 1]]);
  assert.match(reg.text(), /^g\{pod="a\\"b\\\\c\\nd"\} 1$/m);
});
