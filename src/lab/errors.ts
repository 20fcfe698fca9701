// The lab's refusals: a command that cannot go ahead as asked (a lab already up, a pod not found).
import { MeshnetError } from '../errors';

/** A lab operation refused or impossible (the message says why and what to do). */
export class LabError extends MeshnetError {
  readonly code = 'LabRefused';
  constructor(message: string) {
    super(message);
  }
}
