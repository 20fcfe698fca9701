import { writeFileSync } from 'node:fs';
import { graphData, labState, renderDot, renderHtml, renderMermaid } from '../../lab';
import { UsageError } from '../../errors';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { out, outJson } from '../output';

export const graph: Command = {
  name: 'graph',
  usage: `meshnetctl lab graph NAME [-o FILE] [--format html|dot|mermaid] [--output json] [--watch SECONDS]
                                      a picture of the lab: nodes, pods and links (kind, interfaces,
                                      addresses) coloured by state, with per-link counters and
                                      impairments; html (default, one self-contained file NAME.html)
                                      or dot / mermaid (stdout unless -o); --output json: the data;
                                      --watch: rewrite the file every SECONDS (the page reloads itself)`,
  options: { ...OUTPUT_OPTION, o: { type: 'string', short: 'o' }, format: { type: 'string' }, watch: { type: 'string' } },
  async run(p) {
    const json = wantsJson(p);
    const file = typeof p.values.o === 'string' ? p.values.o : undefined;
    const format = typeof p.values.format === 'string' ? p.values.format : 'html';
    if (!['html', 'dot', 'mermaid'].includes(format)) throw new UsageError(`--format takes html, dot or mermaid, got ${JSON.stringify(format)}`);
    let watchS: number | undefined;
    if (p.values.watch !== undefined) {
      const v = p.values.watch;
      if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v) || Number(v) < 1) throw new UsageError(`--watch needs a number of seconds (1 or more), got ${JSON.stringify(v)}`);
      watchS = Number(v);
    }
    const name = p.positionals[0];
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
  },
};
