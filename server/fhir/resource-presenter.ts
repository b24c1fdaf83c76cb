/**
 * Presents a source's resource to clients: global id, every reference rewritten (a linked
 * local patient becomes `Patient/<key>`, anything else `Type/<sourceId>.<localId>`), and
 * `meta.source` naming the provider (a peer node's own `meta.source` for the same provider is
 * kept). Absolute, `urn:` and contained (`#`) references are left
 * as they are. The input is never mutated (adapters may return shared objects).
 */
import type { Resource } from '@medplum/fhirtypes';
import type { ResourceIdCodec } from './ids.ts';
import type { PatientLinks } from './patient-links.ts';
import type { FederatedSource } from './source-directory.ts';

const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

function providerPrefix(provider: string): string {
  return `urn:medrec:provider:${encodeURIComponent(provider)}#`;
}

export function providerUri(source: Pick<FederatedSource, 'provider' | 'sourceId'>): string {
  return `${providerPrefix(source.provider)}${source.sourceId}`;
}

export class ResourcePresenter {
  readonly #ids: ResourceIdCodec;
  readonly #links: PatientLinks;

  constructor(ids: ResourceIdCodec, links: PatientLinks) {
    this.#ids = ids;
    this.#links = links;
  }

  /** The global reference for a source-local `Type/id`. */
  reference(sourceId: string, resourceType: string, localId: string): string {
    if (resourceType === 'Patient') {
      const key = this.#links.patientOf(sourceId, localId);
      if (key) return `Patient/${key}`;
    }
    return `${resourceType}/${this.#ids.encode(sourceId, localId)}`;
  }

  rewriteReference(sourceId: string, reference: string): string {
    const m = RELATIVE_REFERENCE.exec(reference);
    if (!m) return reference;
    return this.reference(sourceId, m[1] as string, m[2] as string) + (m[3] ?? '');
  }

  present(source: FederatedSource, resource: Resource): Resource {
    const out = this.#rewrite(source.sourceId, resource) as Resource;
    if (resource.id) out.id = this.#ids.encode(source.sourceId, resource.id);
    const meta = { ...(resource.meta ?? {}) } as Record<string, unknown>;
    // A peer MedRec node already named this provider and its own source there: keep that finer
    // provenance. Any other value (or another provider's) is replaced: we vouch for the provider.
    const upstream = meta.source;
    if (typeof upstream !== 'string' || !upstream.startsWith(providerPrefix(source.provider))) meta.source = providerUri(source);
    out.meta = meta;
    return out;
  }

  // Hot path (every returned resource): plain loops, no intermediate entry arrays.
  #rewrite(sourceId: string, value: unknown): unknown {
    if (Array.isArray(value)) {
      const out = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        out[i] = v !== null && typeof v === 'object' ? this.#rewrite(sourceId, v) : v;
      }
      return out;
    }
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key in input) {
      const v = input[key];
      if (v !== null && typeof v === 'object') out[key] = this.#rewrite(sourceId, v);
      else if (key === 'reference' && typeof v === 'string') out[key] = this.rewriteReference(sourceId, v);
      else out[key] = v;
    }
    return out;
  }
}
