// What the API-server double serves: a few built-in kinds (stored as given, like a schema-less
// resource) and every kind a CustomResourceDefinition registers, with that CRD's schema, status
// subresource, short names and printer columns. Discovery and OpenAPI documents are derived from
// here, so kubectl finds CRD kinds exactly as it does on a real cluster.
import type { JSONSchemaProps } from './schema';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export interface ResourceDef {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  shortNames: string[];
  namespaced: boolean;
  statusSubresource: boolean;
  /** CRD schema; built-ins have none and store objects as given. */
  schema?: JSONSchemaProps;
  printerColumns?: PrinterColumn[];
  /** Whether this resource was registered by a CRD (custom resources have CR semantics). */
  custom: boolean;
  /** The CRD object's name (`<plural>.<group>`), for custom resources. */
  crd?: string;
}

const builtin = (group: string, version: string, plural: string, kind: string, namespaced: boolean, shortNames: string[] = [], statusSubresource = false): ResourceDef => ({
  group, version, plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames, namespaced, statusSubresource, custom: false,
});

export const BUILTINS: ResourceDef[] = [
  builtin('', 'v1', 'namespaces', 'Namespace', false, ['ns'], true),
  builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', true, ['sa']),
  builtin('', 'v1', 'configmaps', 'ConfigMap', true, ['cm']),
  builtin('', 'v1', 'secrets', 'Secret', true),
  builtin('', 'v1', 'pods', 'Pod', true, ['po'], true),
  builtin('', 'v1', 'nodes', 'Node', false, ['no'], true),
  builtin('apps', 'v1', 'daemonsets', 'DaemonSet', true, ['ds'], true),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  builtin('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  builtin('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
  builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false, ['crd', 'crds'], true),
];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class CrdError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** The served versions of a CRD object, as resources; throws CrdError naming the bad field. */
export function resourcesOfCrd(crd: Record<string, unknown>): ResourceDef[] {
  const meta = crd.metadata as Record<string, unknown> | undefined;
  const spec = crd.spec;
  if (!isObj(spec)) throw new CrdError('spec', 'Required value');
  const names = spec.names;
  if (!isObj(names) || typeof names.plural !== 'string' || typeof names.kind !== 'string') {
    throw new CrdError('spec.names', 'Required value: plural and kind are required');
  }
  const group = spec.group;
  if (typeof group !== 'string' || !group.includes('.')) throw new CrdError('spec.group', `Invalid value: ${JSON.stringify(group)}: should be a domain with at least one dot`);
  const expected = `${names.plural}.${group}`;
  if (meta?.name !== expected) throw new CrdError('metadata.name', `Invalid value: ${JSON.stringify(meta?.name)}: must be spec.names.plural+"."+spec.group`);
  const scope = spec.scope;
  if (scope !== 'Namespaced' && scope !== 'Cluster') throw new CrdError('spec.scope', `Unsupported value: ${JSON.stringify(scope)}: supported values: "Cluster", "Namespaced"`);
  const versions = spec.versions;
  if (!Array.isArray(versions) || versions.length === 0) throw new CrdError('spec.versions', 'Required value: must have exactly one version marked as storage version');
  return versions.filter((v) => isObj(v) && v.served !== false).map((v, i) => {
    const ver = v as Record<string, unknown>;
    if (typeof ver.name !== 'string') throw new CrdError(`spec.versions[${i}].name`, 'Required value');
    const schema = isObj(ver.schema) && isObj(ver.schema.openAPIV3Schema) ? ver.schema.openAPIV3Schema as JSONSchemaProps : undefined;
    if (!schema) throw new CrdError(`spec.versions[${i}].schema.openAPIV3Schema`, 'Required value: schemas are required');
    return {
      group, version: ver.name, plural: names.plural as string,
      singular: typeof names.singular === 'string' ? names.singular : (names.kind as string).toLowerCase(),
      kind: names.kind as string, listKind: typeof names.listKind === 'string' ? names.listKind : `${names.kind}List`,
      shortNames: Array.isArray(names.shortNames) ? names.shortNames.filter((x): x is string => typeof x === 'string') : [],
      namespaced: scope === 'Namespaced',
      statusSubresource: isObj(ver.subresources) && ver.subresources.status !== undefined,
      schema,
      ...(Array.isArray(ver.additionalPrinterColumns) ? { printerColumns: ver.additionalPrinterColumns as PrinterColumn[] } : {}),
      custom: true, crd: expected,
    };
  });
}

export const groupVersion = (r: Pick<ResourceDef, 'group' | 'version'>) => (r.group ? `${r.group}/${r.version}` : r.version);

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResourceList(gv: string, defs: ResourceDef[]): unknown {
  const resources = defs.flatMap((d) => {
    const main = { name: d.plural, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: VERBS, ...(d.shortNames.length ? { shortNames: d.shortNames } : {}) };
    const status = d.statusSubresource ? [{ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] }] : [];
    return [main, ...status];
  });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

export function apiGroupList(defs: ResourceDef[]): unknown {
  const groups = new Map<string, Set<string>>();
  for (const d of defs) if (d.group) (groups.get(d.group) ?? groups.set(d.group, new Set()).get(d.group)!).add(d.version);
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => {
      const vs = [...versions].map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
      return { name, versions: vs, preferredVersion: vs[0] };
    }),
  };
}

/** The `openapi/v3` root: one document per group-version. */
export function openapiRoot(defs: ResourceDef[], hash: string): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of new Set(defs.map(groupVersion))) {
    const p = gv.includes('/') ? `apis/${gv}` : `api/${gv}`;
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

const FIELD_VALIDATION_PARAM = {
  name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true },
  description: 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.',
};

/**
 * An OpenAPI v3 document for one group-version: a schema per kind tagged with its GVK, and the
 * paths with their verbs. kubectl reads it to learn that the server validates fields itself
 * (the fieldValidation parameter) and to find each kind's schema.
 */
export function openapiGroupVersion(gv: string, defs: ResourceDef[]): unknown {
  const schemas: Record<string, unknown> = {};
  const paths: Record<string, unknown> = {};
  const prefix = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
  for (const d of defs) {
    const id = `${d.group ? d.group.split('.').reverse().join('.') : 'io.k8s.api.core'}.${d.version}.${d.kind}`;
    const gvk = [{ group: d.group, version: d.version, kind: d.kind }];
    schemas[id] = {
      ...(d.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
      'x-kubernetes-group-version-kind': gvk,
    };
    const ref = { $ref: `#/components/schemas/${id}` };
    const op = (action: string, params: unknown[] = []) => ({
      parameters: params, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk[0],
      responses: { 200: { content: { 'application/json': { schema: ref } } } },
    });
    const item = d.namespaced ? `${prefix}/namespaces/{namespace}/${d.plural}/{name}` : `${prefix}/${d.plural}/{name}`;
    const coll = d.namespaced ? `${prefix}/namespaces/{namespace}/${d.plural}` : `${prefix}/${d.plural}`;
    paths[coll] = { get: op('list'), post: op('post', [FIELD_VALIDATION_PARAM]) };
    paths[item] = { get: op('get'), put: op('put', [FIELD_VALIDATION_PARAM]), patch: op('patch', [FIELD_VALIDATION_PARAM]), delete: op('delete') };
    if (d.statusSubresource) paths[`${item}/status`] = { get: op('get'), put: op('put', [FIELD_VALIDATION_PARAM]), patch: op('patch', [FIELD_VALIDATION_PARAM]) };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.30.0' }, paths, components: { schemas } };
}

/** Evaluates a printer column's JSONPath (the simple `.a.b[0].c` paths CRDs use). */
export function jsonPathValue(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.replace(/^\{?\.?/, '').replace(/\}$/, '').split('.').filter(Boolean)) {
    const m = /^([^[\]]+)(?:\[(\d+)\])?$/.exec(part);
    if (!m || !isObj(cur)) return undefined;
    cur = cur[m[1]!];
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[2])] : undefined;
  }
  return cur;
}

/** kube-apiserver's HumanDuration for `date` columns (5s, 3m, 2h10m, 4d...). */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
