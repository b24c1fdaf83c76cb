/**
 * One Patient per person: the patient key as id, demographics from the first source (in
 * configuration order) that holds the person, identifiers, names, telecoms and addresses
 * gathered from all of them, and a `seealso` link to each source's own Patient.
 */
import type { Patient, PatientLink } from '@medplum/fhirtypes';
import type { ResourcePresenter } from './resource-presenter.ts';
import type { FederatedSource } from './source-directory.ts';

export interface LocalPatient {
  readonly source: FederatedSource;
  readonly patient: Patient;
}

const UNION_FIELDS = ['identifier', 'name', 'telecom', 'address', 'generalPractitioner'] as const;

export function mergePatient(key: string, parts: readonly LocalPatient[], presenter: ResourcePresenter): Patient {
  const presented = parts.map((p) => ({ part: p, resource: presenter.present(p.source, p.patient) as Patient }));
  const base = presented[0]?.resource;
  if (!base) throw new Error('mergePatient needs at least one local patient');
  const merged: Patient = { ...base, resourceType: 'Patient', id: key };
  for (const field of UNION_FIELDS) {
    const seen = new Set<string>();
    const values: unknown[] = [];
    for (const { resource } of presented) {
      for (const value of (resource[field] as unknown[] | undefined) ?? []) {
        const json = JSON.stringify(value);
        if (!seen.has(json)) (seen.add(json), values.push(value));
      }
    }
    if (values.length > 0) (merged as unknown as Record<string, unknown>)[field] = values;
  }
  const links: PatientLink[] = presented.map(({ part, resource }) => ({
    other: { reference: `Patient/${resource.id}`, display: part.source.name },
    type: 'seealso',
  }));
  merged.link = links;
  const updated = presented.map((p) => p.resource.meta?.lastUpdated).filter((d): d is string => !!d).sort();
  merged.meta = { lastUpdated: updated[updated.length - 1] ?? new Date(0).toISOString(), source: 'urn:medrec:patient-key' };
  return merged;
}
