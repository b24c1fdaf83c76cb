import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { parseSearchRequest } from '@medplum/core';
import { InMemoryResourceStore, inMemoryCapabilities } from '../../adapters/embedded/in-memory-search.ts';
import { compartmentPatients } from '../../adapters/embedded/patient-compartment.ts';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';

loadFhirDefinitions();
const mr = (id: string, patient: string, status: string, authoredOn: string): Resource =>
  ({ resourceType: 'MedicationRequest', id, status, intent: 'order', subject: { reference: `Patient/${patient}` }, authoredOn }) as Resource;
const store = new InMemoryResourceStore([
  { resourceType: 'Patient', id: 'p1', birthDate: '1980-02-01', name: [{ family: 'Smith' }] } as Resource,
  { resourceType: 'Patient', id: 'p2', birthDate: '1999-12-31', name: [{ family: 'Jones' }] } as Resource,
  mr('a', 'p1', 'active', '2024-01-01'),
  mr('b', 'p1', 'stopped', '2022-06-01'),
  mr('c', 'p2', 'active', '2023-03-03T10:00:00-05:00'),
  mr('d', 'p1', 'active', '2023-03-03T12:00:00Z'),
  { resourceType: 'AllergyIntolerance', id: 'al', patient: { reference: 'Patient/p2' }, recorder: { reference: 'Practitioner/x' } } as Resource,
]);
const filters = (type: string, q: Record<string, string>) => parseSearchRequest(type, q).filters ?? [];

t.test('filters use FHIR search semantics (tokens, dates with prefixes, strings)', async (t) => {
  t.same(store.search({ resourceType: 'MedicationRequest', filters: filters('MedicationRequest', { status: 'active' }), count: 10 }).resources.map((r) => r.id), ['a', 'c', 'd']);
  t.same(store.search({ resourceType: 'MedicationRequest', filters: filters('MedicationRequest', { authoredon: 'ge2023-03-03' }), count: 10 }).resources.map((r) => r.id), ['a', 'c', 'd']);
  t.same(store.search({ resourceType: 'Patient', filters: filters('Patient', { birthdate: 'lt1990', name: 'smi' }), count: 10 }).resources.map((r) => r.id), ['p1']);
});

t.test('patients confine a search to those local patients\' compartments', async (t) => {
  t.same(store.search({ resourceType: 'MedicationRequest', filters: [], patients: ['p2'], count: 10 }).resources.map((r) => r.id), ['c']);
  t.same(store.search({ resourceType: 'AllergyIntolerance', filters: [], patients: ['p2'], count: 10 }).resources.map((r) => r.id), ['al']);
  t.same(store.search({ resourceType: 'Patient', filters: [], patients: ['p1'], count: 10 }).resources.map((r) => r.id), ['p1']);
  t.same(compartmentPatients({ resourceType: 'AllergyIntolerance', id: 'x', patient: { reference: 'Patient/p9' } } as Resource), ['p9']);
});

t.test('_sort compares instants across time zones and pages by opaque offsets with totals', async (t) => {
  const sort = [{ code: 'authoredon', descending: true }];
  const first = store.search({ resourceType: 'MedicationRequest', filters: [], sort, count: 2 });
  t.same(first.resources.map((r) => r.id), ['a', 'c'], '10:00-05:00 is after 12:00Z');
  t.equal(first.total, 4);
  const second = store.search({ resourceType: 'MedicationRequest', filters: [], sort, count: 2, page: first.next });
  t.same(second.resources.map((r) => r.id), ['d', 'b']);
  t.equal(second.next, undefined);
});

t.test('declared capabilities leave out what the matcher cannot evaluate', async (t) => {
  const caps = inMemoryCapabilities(['Observation', 'MedicationRequest', 'Medication']);
  const obs = caps.resources.Observation?.searchParams ?? [];
  t.ok(obs.includes('code') && obs.includes('date') && obs.includes('patient'));
  t.notOk(obs.includes('value-quantity'), 'quantity is not evaluated by @medplum/core');
  t.notOk(obs.includes('code-value-quantity'), 'composites neither');
  t.ok(caps.resources.MedicationRequest?.includes?.includes('MedicationRequest:medication'));
  t.ok(caps.resources.Medication?.revIncludes?.includes('MedicationRequest:medication'));
});
