// CRD structural-schema validation and pruning, as kube-apiserver applies a CustomResourceDefinition's
// openAPIV3Schema to custom resources: types are checked (an integer field refuses "7" and 7.5),
// required fields are enforced, and fields the schema does not know are pruned (or, with
// fieldValidation=Strict, refused). Only the parts of OpenAPI v3 structural schemas that CRDs use.

export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  format?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  description?: string;
}

/** One invalid field, in the API server's words (its StatusCause). */
export interface FieldCause {
  reason: 'FieldValueTypeInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueInvalid' | 'FieldValueTooLong';
  field: string;
  message: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Go's %q-ish rendering of a value in "Invalid value" messages. */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (isObj(v)) return '"object"';
  if (Array.isArray(v)) return '"array"';
  return String(v);
}

export interface ValidationResult {
  /** The value with unknown fields pruned. */
  value: unknown;
  causes: FieldCause[];
  /** Paths of fields that were pruned (unknown to the schema). */
  unknown: string[];
}

/** Validates `value` against `schema` at `path` (e.g. "spec"), pruning unknown fields. */
export function validate(schema: JSONSchemaProps | undefined, value: unknown, path: string): ValidationResult {
  const causes: FieldCause[] = [];
  const unknown: string[] = [];
  const walk = (s: JSONSchemaProps | undefined, v: unknown, p: string): unknown => {
    if (!s) return v;
    if (v === null) {
      if (s.nullable) return v;
      // The API server drops nulls for non-nullable fields during defaulting/pruning.
      return undefined;
    }
    if (s['x-kubernetes-int-or-string']) {
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v))) {
        causes.push({ reason: 'FieldValueTypeInvalid', field: p, message: `Invalid value: ${shown(v)}: ${p} in body must be of type integer-or-string: ${shown(typeName(v))}` });
      }
      return v;
    }
    const t = s.type;
    if (t) {
      const actual = typeName(v);
      const ok = t === actual || (t === 'number' && actual === 'integer');
      if (!ok) {
        causes.push({ reason: 'FieldValueTypeInvalid', field: p, message: `Invalid value: ${shown(v)}: ${p} in body must be of type ${t}: ${JSON.stringify(actual)}` });
        return v;
      }
    }
    if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
      causes.push({ reason: 'FieldValueNotSupported', field: p, message: `Unsupported value: ${shown(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` });
    }
    if (typeof v === 'string' && s.maxLength !== undefined && v.length > s.maxLength) {
      causes.push({ reason: 'FieldValueTooLong', field: p, message: `Too long: may not be longer than ${s.maxLength}` });
    }
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) causes.push({ reason: 'FieldValueInvalid', field: p, message: `Invalid value: ${v}: ${p} in body should be greater than or equal to ${s.minimum}` });
      if (s.maximum !== undefined && v > s.maximum) causes.push({ reason: 'FieldValueInvalid', field: p, message: `Invalid value: ${v}: ${p} in body should be less than or equal to ${s.maximum}` });
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(s.items, item, `${p}[${i}]`));
    if (isObj(v)) {
      if (s['x-kubernetes-embedded-resource'] || (s['x-kubernetes-preserve-unknown-fields'] && !s.properties)) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const sub = s.properties?.[k] ?? (isObj(s.additionalProperties) ? s.additionalProperties : undefined);
        const childPath = p ? `${p}.${k}` : k;
        if (!sub) {
          if (s['x-kubernetes-preserve-unknown-fields'] || s.additionalProperties === true) out[k] = x;
          else unknown.push(childPath);
          continue;
        }
        const w = walk(sub, x, childPath);
        if (w !== undefined) out[k] = w;
      }
      for (const r of s.required ?? []) {
        if (out[r] === undefined) causes.push({ reason: 'FieldValueRequired', field: p ? `${p}.${r}` : r, message: 'Required value' });
      }
      return out;
    }
    return v;
  };
  const pruned = walk(schema, value, path);
  return { value: pruned, causes, unknown };
}
