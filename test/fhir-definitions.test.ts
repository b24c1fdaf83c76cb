import t from 'tap';
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';

t.test('after loading definitions, token and date searches match in memory', async (t) => {
  loadFhirDefinitions();
  loadFhirDefinitions(); // idempotent
  const obs = { resourceType: 'Observation' as const, status: 'final' as const, code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveDateTime: '2024-03-01' };
  t.ok(matchesSearchRequest(obs, parseSearchRequest('Observation', { code: 'http://loinc.org|8867-4', date: 'ge2024' })));
  t.notOk(matchesSearchRequest(obs, parseSearchRequest('Observation', { date: 'lt2024' })));
});
