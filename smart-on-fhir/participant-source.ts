/**
 * The participant directory as a FHIR source: the `fhirUser` record of every non-patient
 * participant, built from what the chain says about an address (display name and role; nothing
 * else, and nothing that is PHI). Clinicians and providers are Practitioners, every other role
 * (proxy, pharmacy, researcher, an organisation that is no provider) a Person: a RelatedPerson
 * names exactly one patient, while a proxy may act for several, and naming them in a record
 * others may read would disclose the delegation. Patients are `Patient/<address>`, the merged patient, not served here.
 * Ids are the address (`Practitioner/directory.0x…` once the FHIR layer prefixes the source);
 * searches answer `_id` only, as the directory cannot be listed.
 */
import type { Filter } from '@medplum/core';
import type { Person, Practitioner, Resource } from '@medplum/fhirtypes';
import type { EhrAdapter, SourceCapabilities, SourceHealth, SourcePage, SourceQuery } from '../adapters/ehr-adapter.ts';
import { escapeHtml } from './pages.ts';
import type { ParticipantInfo, ParticipantRole } from './smart-context.ts';

/** The source id: fhirUser ids of non-patients are `directory.<address>`. */
export const PARTICIPANT_SOURCE_ID = 'directory';

const ROLE_WORDS: Record<ParticipantRole, string> = {
  patient: 'Patient',
  clinician: 'Clinician',
  provider: 'Healthcare provider',
  proxy: 'Healthcare proxy',
  pharmacy: 'Pharmacy',
  researcher: 'Research organisation',
  organisation: 'Organisation',
};

/** The FHIR type of a participant's fhirUser record. */
export function fhirUserType(role: ParticipantRole | undefined): 'Patient' | 'Practitioner' | 'Person' {
  if (role === undefined || role === 'patient') return 'Patient';
  return role === 'clinician' || role === 'provider' ? 'Practitioner' : 'Person';
}

/** `Type/id` of a participant's fhirUser record, relative to the FHIR base. */
export function fhirUserReference(address: string, role: ParticipantRole | undefined): string {
  const type = fhirUserType(role);
  return type === 'Patient' ? `Patient/${address}` : `${type}/${PARTICIPANT_SOURCE_ID}.${address}`;
}

const ADDRESS = /^0x[0-9a-f]{40}$/;

export class ParticipantSource implements EhrAdapter {
  readonly sourceId = PARTICIPANT_SOURCE_ID;
  readonly #describe: (address: string) => Promise<ParticipantInfo | undefined>;
  readonly #chainId: number;

  constructor(describe: (address: string) => Promise<ParticipantInfo | undefined>, chainId: number) {
    this.#describe = describe;
    this.#chainId = chainId;
  }

  capabilities(): SourceCapabilities {
    return { resources: { Practitioner: { searchParams: ['_id'] }, Person: { searchParams: ['_id'] } } };
  }

  async read(resourceType: string, id: string): Promise<Resource | undefined> {
    if (!ADDRESS.test(id)) return undefined;
    const info = await this.#describe(id);
    if (!info?.role || fhirUserType(info.role) !== resourceType) return undefined;
    const name = info.displayName ?? id;
    const common = {
      id,
      active: true,
      identifier: [{ system: 'urn:ietf:rfc:3986', value: `did:pkh:eip155:${this.#chainId}:${id}` }],
      name: [{ text: name }],
      text: { status: 'generated' as const, div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeHtml(`${ROLE_WORDS[info.role]}: ${name}`)}</div>` },
    };
    return resourceType === 'Practitioner' ? ({ resourceType: 'Practitioner', ...common } satisfies Practitioner) : ({ resourceType: 'Person', ...common } satisfies Person);
  }

  async search(query: SourceQuery): Promise<SourcePage> {
    // Nobody's compartment holds these records, and the directory cannot be listed: `_id` only.
    const ids = idValues(query.filters);
    if (query.patients !== undefined || ids === undefined) return { resources: [], ...(query.total ? { total: 0 } : {}) };
    const found = (await Promise.all(ids.map((id) => this.read(query.resourceType, id)))).filter((r): r is Resource => r !== undefined);
    return { resources: found, ...(query.total ? { total: found.length } : {}) };
  }

  async health(): Promise<SourceHealth> {
    return { status: 'up', checkedAt: new Date().toISOString() };
  }

  async close(): Promise<void> {}
}

/** The ids every `_id` filter allows (ANDed), or undefined without one. */
function idValues(filters: readonly Filter[]): string[] | undefined {
  let ids: string[] | undefined;
  for (const filter of filters) {
    if (filter.code !== '_id') continue;
    // `_id:not` and the like would need the whole directory: they match nothing here.
    const values = filter.operator === 'eq' ? filter.value.split(',').map((v) => v.toLowerCase()) : [];
    ids = ids === undefined ? values : ids.filter((id) => values.includes(id));
  }
  return ids === undefined ? undefined : [...new Set(ids)].slice(0, 100);
}
