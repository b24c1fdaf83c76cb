/**
 * The sources file (`MEDREC_SOURCES`): a JSON document `{ "sources": [SourceConfig, ...] }`.
 *
 * ```json
 * { "sources": [
 *   { "id": "hospital", "kind": "embedded", "provider": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
 *     "name": "Mercy General Hospital", "options": { "files": ["data/hospital.json"] } },
 *   { "id": "epic", "kind": "fhir", "provider": "0x…", "name": "…", "options": { "baseUrl": "https://…" } }
 * ] }
 * ```
 * Kind-specific `options` are validated by the kind's factory when the source is opened.
 * `"via": "queue"` with `"queue": { … }` (adapters/queue/queue-options.ts) sends the source's
 * calls to an adapter worker (server/adapter-worker.ts) instead of running its adapter here.
 */
import { readFile } from 'node:fs/promises';
import type { SourceConfig } from '../../adapters/source-config.ts';
import { adapterKinds } from '../../adapters/registry.ts';
import { ConfigError } from './config.ts';
import type { PatientLink } from '../fhir/patient-links.ts';

const SOURCE_ID = /^[a-z0-9-]{1,16}$/;
const PROVIDER = /^(0x[0-9a-fA-F]{40}|[a-z0-9][a-z0-9-]{0,63})$/;

export function validateSources(input: unknown, where: string): SourceConfig[] {
  const problems: string[] = [];
  const list = (input as { sources?: unknown } | null)?.sources;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError([`${where}: must be {"sources": [ ... ]} with at least one source`]);
  const seen = new Set<string>();
  const sources: SourceConfig[] = [];
  list.forEach((raw: unknown, i) => {
    const s = (raw ?? {}) as Record<string, unknown>;
    const at = `${where}: sources[${i}]`;
    if (typeof s.id !== 'string' || !SOURCE_ID.test(s.id)) problems.push(`${at}.id must match [a-z0-9-]{1,16}`);
    else if (seen.has(s.id)) problems.push(`${at}.id "${s.id}" is used twice`);
    else seen.add(s.id);
    if (typeof s.kind !== 'string' || !(s.kind in adapterKinds)) problems.push(`${at}.kind must be one of ${Object.keys(adapterKinds).join(', ')}`);
    if (typeof s.provider !== 'string' || !PROVIDER.test(s.provider)) problems.push(`${at}.provider must be a 0x address or a lowercase handle`);
    if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > 200) problems.push(`${at}.name must be a non-empty string`);
    if (s.options !== undefined && (typeof s.options !== 'object' || s.options === null || Array.isArray(s.options))) problems.push(`${at}.options must be an object`);
    if (s.via !== undefined && s.via !== 'inline' && s.via !== 'queue') problems.push(`${at}.via must be "inline" or "queue"`);
    if (s.queue !== undefined && (typeof s.queue !== 'object' || s.queue === null || Array.isArray(s.queue))) problems.push(`${at}.queue must be an object`);
    else if (s.queue !== undefined && s.via !== 'queue') problems.push(`${at}.queue is only read with "via": "queue"`);
    sources.push({
      id: String(s.id), kind: String(s.kind), provider: String(s.provider).toLowerCase(), name: String(s.name),
      options: (s.options ?? {}) as Record<string, unknown>,
      ...(s.via === 'queue' ? { via: 'queue' as const, queue: (s.queue ?? {}) as Record<string, unknown> } : {}),
    });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return sources;
}

export async function readSourcesFile(path: string): Promise<SourceConfig[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`MEDREC_SOURCES=${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`MEDREC_SOURCES=${path}: not valid JSON (${(err as Error).message})`]);
  }
  return validateSources(json, path);
}

/** A link row of the sources file: with the salt its provider committed it on chain with. */
export interface LinkRow extends PatientLink {
  /** 32-byte hex salt of the provider's on-chain commitment for this patient. */
  readonly salt?: string;
}

/**
 * Optional `"links": [{ "patient": "0x…", "sourceId": "hospital", "localId": "123", "salt": "0x…" }]`
 * in the sources file: the node's private patient links (patient key → local id per source) and
 * the salt of the on-chain commitment each was checked against (a link the chain does not vouch
 * for is not used).
 */
export async function readSourcesLinks(path: string): Promise<LinkRow[]> {
  const json = JSON.parse(await readFile(path, 'utf8')) as { links?: unknown };
  if (json.links === undefined) return [];
  if (!Array.isArray(json.links)) throw new ConfigError([`${path}: links must be a list`]);
  const problems: string[] = [];
  const links = json.links.map((raw: unknown, i) => {
    const l = (raw ?? {}) as Record<string, unknown>;
    if (typeof l.patient !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(l.patient)) problems.push(`${path}: links[${i}].patient must be a 0x address`);
    if (typeof l.sourceId !== 'string' || !SOURCE_ID.test(l.sourceId)) problems.push(`${path}: links[${i}].sourceId must match [a-z0-9-]{1,16}`);
    if (typeof l.localId !== 'string' || l.localId.length === 0 || l.localId.length > 256) problems.push(`${path}: links[${i}].localId must be a non-empty string`);
    if (l.salt !== undefined && (typeof l.salt !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(l.salt))) problems.push(`${path}: links[${i}].salt must be 0x and 64 hex digits`);
    const row = { patient: String(l.patient).toLowerCase(), sourceId: String(l.sourceId), localId: String(l.localId) };
    return typeof l.salt === 'string' ? { ...row, salt: l.salt.toLowerCase() } : row;
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return links;
}
