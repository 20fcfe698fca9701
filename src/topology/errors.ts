/** Bad Topology input; `field` is the JSON path of the offending value (e.g. `spec.links[2].local_intf`). */
export class TopologyError extends Error {
  readonly code = 'InvalidTopology';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'TopologyError';
    this.field = field;
  }
}
