/**
 * Reads FHIR Bundles (collection, transaction, searchset) from disk into plain resources,
 * turning `urn:uuid:` references into `Type/id` ones as a server would on transaction import.
 */
import { readFile } from 'node:fs/promises';
import type { Bundle, Resource } from '@medplum/fhirtypes';

function rewriteUrnReferences(value: unknown, urls: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteUrnReferences(v, urls));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' && urls.has(v) ? urls.get(v) : rewriteUrnReferences(v, urls);
    }
    return out;
  }
  return value;
}

export async function readBundleFile(path: string): Promise<Resource[]> {
  let bundle: Bundle;
  try {
    bundle = JSON.parse(await readFile(path, 'utf8')) as Bundle;
  } catch (err) {
    throw new Error(`cannot read FHIR bundle ${path}: ${(err as Error).message}`);
  }
  if (bundle?.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) {
    throw new Error(`${path} is not a FHIR Bundle with entries`);
  }
  const urls = new Map<string, string>();
  for (const entry of bundle.entry) {
    const r = entry.resource;
    if (entry.fullUrl?.startsWith('urn:uuid:') && r?.id) urls.set(entry.fullUrl, `${r.resourceType}/${r.id}`);
  }
  return bundle.entry
    .map((e) => e.resource)
    .filter((r): r is Resource => !!r && typeof r.id === 'string')
    .map((r) => (urls.size > 0 ? (rewriteUrnReferences(r, urls) as Resource) : r));
}
