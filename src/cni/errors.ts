import { isSupportedVersion, LATEST_VERSION } from './versions';
import { MeshnetError } from '../errors';

/**
 * Error codes from the CNI spec ("Error" section). Codes 1-99 are reserved by the spec; codes
 * 100 and above are plugin-specific and must be documented by the plugin that returns them.
 *
 * - 1  IncompatibleVersion   cniVersion missing, unknown, or not allowed for the command
 * - 2  UnsupportedField      a config field the plugin does not support
 * - 3  UnknownContainer      the container (or its netns) does not exist
 * - 4  InvalidEnvironment    a CNI_* environment variable is missing or invalid (details names it)
 * - 5  IOFailure             reading stdin or another I/O step failed
 * - 6  DecodeFailure         stdin, prevResult or a plugin's stdout could not be decoded
 * - 7  InvalidNetworkConfig  the network config is well-formed JSON but semantically invalid
 * - 11 TryAgainLater         transient; the runtime may retry
 * - 50 PluginNotAvailable    STATUS: the plugin cannot serve ADD; runtime side: plugin binary missing
 * - 51 LimitedConnectivity   STATUS: ADD works but connectivity is degraded
 * - 999 Internal             anything unexpected (a bug or an unmapped exception)
 */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The JSON object a plugin prints on stdout when it fails. */
export interface CniErrorJSON {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/**
 * A failure with a CNI error code. `msg` is short and stable ("invalid CNI_IFNAME"); `details`
 * names the field or variable and the offending value so a user can act on it.
 */
export class CniError extends MeshnetError {
  readonly code: number;
  readonly msg: string;
  readonly details: string;

  constructor(code: number, msg: string, details?: string) {
    super(details ? `${msg}: ${details}` : msg);
    this.code = code;
    this.msg = msg;
    this.details = details ?? '';
  }

  /**
   * The spec's error object. JSON.stringify(err) calls toJSON with the property key (often ''),
   * so anything that is not a supported version falls back to the newest one instead of
   * producing `"cniVersion": ""`.
   */
  toJSON(cniVersion: string): CniErrorJSON {
    const out: CniErrorJSON = {
      cniVersion: isSupportedVersion(cniVersion) ? cniVersion : LATEST_VERSION,
      code: this.code,
      msg: this.msg,
    };
    if (this.details !== '') out.details = this.details;
    return out;
  }
}

/** Short, bounded rendering of a bad value for error details. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
