import type { Resource } from '@medplum/fhirtypes';
import t from 'tap';
import { patientCompartmentParams, patientCompartmentTest } from '../../adapters/fhir/patient-compartment.ts';

const base = 'https://ehr.example.org/fhir/R4/';
const inP1 = patientCompartmentTest(['p1'], base);

t.test('a returned resource is in the patient compartment through any of its compartment parameters', async (t) => {
  const obs = (subject: string, performer?: string): Resource => ({
    resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject },
    ...(performer ? { performer: [{ reference: performer }] } : {}),
  });
  t.ok(inP1(obs('Patient/p1')), 'subject');
  t.ok(inP1(obs('Group/g1', 'Patient/p1')), 'performer is a compartment parameter of Observation');
  t.ok(inP1(obs(`${base}Patient/p1`)), 'absolute reference under the upstream base');
  t.notOk(inP1(obs('https://elsewhere.example.org/fhir/Patient/p1')), 'absolute reference to another server');
  t.notOk(inP1(obs('Patient/p2')));
  t.notOk(inP1(obs('Patient/p10')), 'no prefix matching');
  t.ok(inP1({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p1' } } as Resource), 'AllergyIntolerance.patient (a shared multi-type expression)');
  t.ok(inP1({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p2' }, recorder: { reference: 'Patient/p1' } } as Resource), 'recorder is one too');
  t.ok(inP1({ resourceType: 'Patient', id: 'p1' } as Resource));
  t.notOk(inP1({ resourceType: 'Patient', id: 'p2' } as Resource));
  t.notOk(inP1({ resourceType: 'Organization', id: 'o1' } as Resource), 'types outside the compartment never are');
  t.ok(patientCompartmentTest(['p2', 'p1'], base)(obs('Patient/p1')), 'any of several patients');
});

t.test('compartment parameters come from the R4 CompartmentDefinition', async (t) => {
  t.same(patientCompartmentParams('Observation'), ['subject', 'performer']);
  t.same(patientCompartmentParams('Patient'), ['_id']);
  t.equal(patientCompartmentParams('Organization'), undefined);
});
