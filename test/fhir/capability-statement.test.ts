import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import type { CapabilityContributor } from '../../conformance/capability-statement.ts';
import { demoApp, json, source } from './fhir-app.ts';

t.test('metadata states what the registered sources really serve, and which source evaluates each parameter', async (t) => {
  const app = await demoApp();
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/fhir/metadata' });
  t.equal(res.statusCode, 200);
  t.ok(res.headers.etag);
  const cs = json(res);
  t.equal(cs.resourceType, 'CapabilityStatement');
  t.equal(cs.fhirVersion, '4.0.1');
  t.equal(cs.kind, 'instance');
  const types = cs.rest[0].resource.map((r: any) => r.type);
  t.ok(types.includes('MedicationRequest') && types.includes('MedicationDispense') && types.includes('Patient'));
  t.notOk(types.includes('Questionnaire'), 'no source holds Questionnaires, so none is claimed');
  const mr = cs.rest[0].resource.find((r: any) => r.type === 'MedicationRequest');
  t.same(mr.interaction.map((i: any) => i.code), ['read', 'search-type']);
  const status = mr.searchParam.find((p: any) => p.name === 'status');
  t.equal(status.type, 'token');
  t.equal(status.documentation, 'Evaluated by: hospital, clinic, pharmacy-records');
  t.ok(mr.searchInclude.includes('MedicationRequest:medication'));
  const dispense = cs.rest[0].resource.find((r: any) => r.type === 'MedicationDispense');
  t.equal(dispense.searchParam.find((p: any) => p.name === 'status').documentation, 'Evaluated by: pharmacy-records');
  const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
  t.equal(patient.operation[0].name, 'everything');
});

t.test('another plugin can contribute to the statement (e.g. SMART security)', async (t) => {
  const app = await demoApp({
    deps: {
      capabilityContributors: [
        (cs) => ({ ...cs, rest: cs.rest?.map((r) => ({ ...r, security: { service: [{ coding: [{ code: 'SMART-on-FHIR' }] }] } })) }),
      ],
    },
  });
  t.teardown(() => app.close());
  const cs = json(await app.inject({ method: 'GET', url: '/fhir/metadata' }));
  t.equal(cs.rest[0].security.service[0].coding[0].code, 'SMART-on-FHIR');
});

t.test('a contributor put in place after start amends the statement from then on (the cache does not hide it)', async (t) => {
  const security = (code: string): CapabilityContributor => (cs) => ({ ...cs, rest: cs.rest?.map((r) => ({ ...r, security: { service: [{ coding: [{ code }] }] } })) });
  const contributors: CapabilityContributor[] = [security('first')];
  const app = await demoApp({ deps: { capabilityContributors: contributors } });
  t.teardown(() => app.close());
  const metadata = async () => app.inject({ method: 'GET', url: '/fhir/metadata' });
  const before = await metadata();
  t.equal(json(before).rest[0].security.service[0].coding[0].code, 'first');
  contributors[0] = security('second');
  const after = await metadata();
  t.equal(json(after).rest[0].security.service[0].coding[0].code, 'second');
  t.not(after.headers.etag, before.headers.etag, 'and the ETag changes with it');
});

t.test('a newly registered source kind shows up with its own types', async (t) => {
  const extra = new EmbeddedAdapter('lab', [{ resourceType: 'Specimen', id: 's1' } as Resource]);
  const app = await demoApp({ extraSources: [source('lab', extra)] });
  t.teardown(() => app.close());
  const cs = json(await app.inject({ method: 'GET', url: '/fhir/metadata' }));
  t.ok(cs.rest[0].resource.some((r: any) => r.type === 'Specimen'));
  const specimen = json(await app.inject({ method: 'GET', url: '/fhir/Specimen/lab.s1' }));
  t.equal(specimen.id, 'lab.s1');
});
