/**
 * What an upstream can answer, read from its CapabilityStatement (`GET [base]/metadata`): the
 * resource types it searches, their search parameters, and for patient-compartment types the
 * parameter that restricts a search to given patients. Types in the compartment that cannot be
 * restricted are left out: searching them would return every patient's records.
 */
import { getSearchParameter } from '@medplum/core';
import type { ResourceCapability, SourceCapabilities } from '../ehr-adapter.ts';
import { patientCompartmentParams } from './patient-compartment.ts';

export interface UpstreamResourcePlan {
  /** `patient` / `subject` / … or `_id` for Patient; absent for types outside the compartment. */
  readonly patientParam?: string;
  readonly searchParams: readonly string[];
}

export interface DiscoveredCapabilities {
  readonly capabilities: SourceCapabilities;
  readonly plans: ReadonlyMap<string, UpstreamResourcePlan>;
  readonly software?: string;
  readonly fhirVersion?: string;
}

/** Result and filter parameters that are not search criteria; they are never declared. */
const NOT_CRITERIA = new Set(['_count', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_contained', '_containedType', '_format', '_pretty', '_query', '_has', '_list', '_filter']);
/** Preference when a type is linked to the patient through several parameters. */
const PATIENT_PARAM_ORDER = ['_id', 'patient', 'subject', 'beneficiary', 'individual'];

export class CapabilityStatementError extends Error {}

export function discoverCapabilities(statement: unknown, allowedTypes?: ReadonlySet<string>): DiscoveredCapabilities {
  const cs = statement as {
    resourceType?: unknown;
    fhirVersion?: unknown;
    software?: { name?: unknown; version?: unknown };
    rest?: { mode?: unknown; searchParam?: { name?: unknown }[]; resource?: unknown[] }[];
  } | undefined;
  if (!cs || cs.resourceType !== 'CapabilityStatement') throw new CapabilityStatementError('metadata is not a CapabilityStatement');
  if (typeof cs.fhirVersion === 'string' && !cs.fhirVersion.startsWith('4.0')) {
    throw new CapabilityStatementError(`upstream speaks FHIR ${cs.fhirVersion}, not R4 (4.0.x)`);
  }
  const server = (cs.rest ?? []).find((rest) => rest.mode === 'server');
  if (!server) throw new CapabilityStatementError('CapabilityStatement has no rest entry in server mode');
  const serverWide = names(server.searchParam);
  const resources: Record<string, ResourceCapability> = {};
  const plans = new Map<string, UpstreamResourcePlan>();
  for (const entry of server.resource ?? []) {
    const resource = entry as { type?: unknown; interaction?: { code?: unknown }[]; searchParam?: { name?: unknown }[] };
    if (typeof resource.type !== 'string' || !/^[A-Z][A-Za-z]{1,63}$/.test(resource.type)) continue;
    if (allowedTypes && !allowedTypes.has(resource.type)) continue;
    const interactions = resource.interaction?.map((i) => i.code);
    if (interactions && !interactions.includes('search-type')) continue;
    const listed = [...new Set([...names(resource.searchParam), ...serverWide])].filter((name) => !NOT_CRITERIA.has(name));
    const compartment = patientCompartmentParams(resource.type);
    let patientParam: string | undefined;
    if (compartment) {
      // `patient` (a reference to Patient only) is what EHRs document and index; the compartment's
      // own params (e.g. Observation's `subject`) come next.
      const hasPatientParam = resource.type !== 'Patient' && getSearchParameter(resource.type, 'patient') !== undefined;
      const candidates = [...(hasPatientParam ? ['patient'] : []), ...PATIENT_PARAM_ORDER.filter((p) => compartment.includes(p)), ...compartment];
      // A server that enumerates no parameters for the type is taken at the compartment's word.
      patientParam = names(resource.searchParam).length === 0 ? candidates[0] : candidates.find((p) => listed.includes(p) || (p === '_id' && resource.type === 'Patient'));
      if (!patientParam) continue;
    }
    resources[resource.type] = { searchParams: listed };
    plans.set(resource.type, { patientParam, searchParams: listed });
  }
  const software = cs.software && typeof cs.software.name === 'string'
    ? `${cs.software.name}${typeof cs.software.version === 'string' ? ` ${cs.software.version}` : ''}`
    : undefined;
  return { capabilities: { resources }, plans, software, fhirVersion: typeof cs.fhirVersion === 'string' ? cs.fhirVersion : undefined };
}

function names(params: { name?: unknown }[] | undefined): string[] {
  return (params ?? []).map((p) => p.name).filter((n): n is string => typeof n === 'string' && /^[A-Za-z_][A-Za-z0-9_:.-]*$/.test(n));
}
