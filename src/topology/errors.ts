/** Bad Topology input; `field` is the JSON path of the offending value (e.g. `spec.links[2].local_intf`). */
import { MeshnetError } from '../errors';
export class TopologyError extends MeshnetError {
  readonly code = 'InvalidTopology';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
