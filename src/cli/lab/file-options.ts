// The flags of the commands that read a lab file (up, apply, demo).
import type { LabFileOptions } from '../../lab';
import { positiveInt, type Parsed } from '../command';

export const FILE_OPTIONS = {
  name: { type: 'string' },
  nodes: { type: 'string' },
  kubeconfig: { type: 'string' },
  'no-check': { type: 'boolean' },
} as const;

export function fileOptions(p: Parsed): { opts: LabFileOptions; kubeconfig?: string } {
  const opts: LabFileOptions = {};
  if (typeof p.values.name === 'string') opts.name = p.values.name;
  const nodes = positiveInt('--nodes', p.values.nodes, 'a number of nodes');
  if (nodes !== undefined) opts.nodes = nodes;
  return { opts, ...(typeof p.values.kubeconfig === 'string' ? { kubeconfig: p.values.kubeconfig } : {}) };
}
