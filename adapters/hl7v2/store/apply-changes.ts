/**
 * Applies converted changes to the store with v2 update semantics: a restated result, order or
 * allergy replaces the stored resource whole; for Patient and Encounter, elements the message
 * states replace the stored ones, elements it leaves empty are kept, `""` removes them. An
 * unchanged resource is not rewritten (and raises no record-change notification). A change never
 * moves a record from one patient's compartment to another's: only an A40 merge does that.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Patient, PatientLink, Resource } from '@medplum/fhirtypes';
import { ConversionError, type MergePatientsChange, type StoreChange, type UpsertChange } from '../conversion/conversion-result.ts';
import { allergyId } from '../conversion/allergy-mapping.ts';
import type { ResourceAccess } from './batched-transaction.ts';

/** Applies changes in order; returns the local patient ids whose records actually changed. */
export async function applyChanges(tx: ResourceAccess, changes: readonly StoreChange[], now: string): Promise<Set<string>> {
  const touched = new Set<string>();
  for (const change of changes) {
    if (change.kind === 'upsert') {
      if (await applyUpsert(tx, change, now) && change.patient) touched.add(change.patient);
    } else {
      for (const p of await mergePatients(tx, change, now)) touched.add(p);
    }
  }
  return touched;
}

async function applyUpsert(tx: ResourceAccess, change: UpsertChange, now: string): Promise<boolean> {
  const { resourceType, id } = change.resource;
  const prior = await tx.get(resourceType, id!);
  if (prior && prior.patient !== change.patient) {
    // The same key (an order or visit number reused by a sender, say) for another patient: filing
    // it would overwrite that patient's record and hand it to this one. Refused for review instead.
    throw new ConversionError(`${resourceType} ${id} is already filed under another patient`, '205');
  }
  const next: Record<string, unknown> = prior && !change.replace ? { ...prior.resource } : {};
  for (const [key, value] of Object.entries(change.resource)) {
    const stored = next[key];
    next[key] = change.partial?.includes(key) && isObject(stored) && isObject(value) ? { ...stored, ...value } : value;
  }
  for (const path of change.remove ?? []) removeElement(next, path);
  for (const [key, value] of Object.entries(change.defaults ?? {})) {
    if (next[key] === undefined) next[key] = value;
  }
  return write(tx, prior, next as unknown as Resource, change.patient, now);
}

async function write(
  tx: ResourceAccess,
  prior: { resource: Resource; patient: string | null } | undefined,
  next: Resource,
  patient: string | null,
  now: string,
): Promise<boolean> {
  const { meta: _priorMeta, ...priorContent } = (prior?.resource ?? {}) as Resource;
  const { meta: _nextMeta, ...nextContent } = next;
  if (prior && prior.patient === patient && isDeepStrictEqual(priorContent, nextContent)) return false;
  const version = Number(prior?.resource.meta?.versionId ?? 0) + 1;
  const { resourceType, id, ...rest } = nextContent;
  await tx.put({ resourceType, id, meta: { versionId: String(version), lastUpdated: now }, ...rest } as Resource, patient);
  return true;
}

/** A40: moves every record of `from` to `into` and links the two Patients. */
async function mergePatients(tx: ResourceAccess, change: MergePatientsChange, now: string): Promise<string[]> {
  const { from, into } = change;
  const oldRef = `Patient/${from}`;
  const newRef = `Patient/${into}`;
  for (const stored of await tx.byPatient(from)) {
    if (stored.resource.resourceType === 'Patient') continue;
    const moved = JSON.parse(JSON.stringify(stored.resource).replaceAll(`"${oldRef}"`, `"${newRef}"`)) as Resource;
    if (moved.resourceType === 'AllergyIntolerance' && moved.code) {
      // Allergy ids derive from the patient: re-derive for the survivor, who may already have it.
      const id = allergyId(into, moved.code);
      await tx.delete('AllergyIntolerance', moved.id!);
      const existing = await tx.get('AllergyIntolerance', id);
      if (!existing) await write(tx, undefined, { ...moved, id }, into, now);
      continue;
    }
    await write(tx, stored, moved, into, now);
  }
  const old = await tx.get('Patient', from);
  if (old) {
    const patient = old.resource as Patient;
    await write(tx, old, { ...patient, active: false, link: withLink(patient.link, newRef, 'replaced-by') }, from, now);
  }
  const survivor = await tx.get('Patient', into);
  if (survivor) {
    const patient = survivor.resource as Patient;
    await write(tx, survivor, { ...patient, link: withLink(patient.link, oldRef, 'replaces') }, into, now);
  }
  return [from, into];
}

/** Removes an element (`telecom`) or one child of a complex element (`period.end`), with its `_` sibling. */
function removeElement(resource: Record<string, unknown>, path: string): void {
  const [key, child] = path.split('.') as [string, string | undefined];
  if (child === undefined) {
    delete resource[key];
    delete resource[`_${key}`];
    return;
  }
  const parent = resource[key];
  if (!isObject(parent)) return;
  const { [child]: _value, [`_${child}`]: _extensions, ...kept } = parent;
  if (Object.keys(kept).length) resource[key] = kept;
  else delete resource[key]; // an empty element is not valid FHIR
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withLink(links: PatientLink[] | undefined, reference: string, type: PatientLink['type']): PatientLink[] {
  const kept = (links ?? []).filter((l) => l.other.reference !== reference);
  return [...kept, { other: { reference }, type }];
}
