/**
 * Presets: what a hospital would otherwise have to know about its EHR's FHIR API. A source's own
 * options override any preset value.
 */
import type { RequiredParamRule } from './search-translation.ts';

export type PresetName = 'epic' | 'openmrs-fhir2' | 'generic-r4' | 'medrec-peer';

export interface FhirPreset {
  readonly baseUrl?: string;
  /** Path appended to `serverUrl` when only the server is given (OpenMRS). */
  readonly basePath?: string;
  readonly authType: 'none' | 'bearer' | 'basic' | 'backend-services';
  readonly tokenUrl?: string;
  readonly scope?: string;
  readonly username?: string;
  readonly requiredParams: readonly RequiredParamRule[];
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Epic on FHIR sandbox test patients (FHIR ids confirmed by a live run, Feb 2026); the full list
 * is at https://fhir.epic.com/Documentation?docId=testpatients.
 */
export const EPIC_SANDBOX_TEST_PATIENTS: Readonly<Record<string, string>> = {
  'Camila Maria Lopez': 'erXuFYUfucBZaryVksYEcMg3',
  'Derrick Lin': 'eq081-VQEgP8drUUqCWzHfw3',
  'Desiree Caroline Lambridge': 'eAB3mDIBBcyUKviyzrxsnAw3',
};

export const FHIR_PRESETS: Readonly<Record<PresetName, FhirPreset>> = {
  // Epic R4 sandbox, Backend Services (client_credentials + JWT signed with a key Epic fetches from
  // our JWKS URL). `Observation?patient=` alone is a 400 "Must have either code or category".
  epic: {
    baseUrl: 'https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/',
    authType: 'backend-services',
    tokenUrl: 'https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token',
    scope: 'system/*.read',
    requiredParams: [
      { resourceType: 'Observation', unlessAnyOf: ['code', 'category'], add: { category: 'laboratory,vital-signs,social-history' } },
    ],
  },
  // OpenMRS with the FHIR2 module: `/openmrs/ws/fhir2/R4` on the OpenMRS server, HTTP basic auth.
  'openmrs-fhir2': {
    basePath: '/openmrs/ws/fhir2/R4/',
    authType: 'basic',
    username: 'admin',
    requiredParams: [],
  },
  'generic-r4': {
    authType: 'none',
    requiredParams: [],
  },
  // Another MedRec-FHIR node: base URL from the provider registry on chain, Backend Services with
  // this node's key as the calling provider (client_id = our provider address), token endpoint
  // from the peer's SMART discovery. The peer applies its own grants to what we may see.
  'medrec-peer': {
    authType: 'backend-services',
    scope: 'system/*.read',
    requiredParams: [],
  },
};

export function isPresetName(value: unknown): value is PresetName {
  return typeof value === 'string' && Object.hasOwn(FHIR_PRESETS, value);
}
