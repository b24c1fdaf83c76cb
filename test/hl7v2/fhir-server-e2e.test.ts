/**
 * Done-when of the HL7v2 adapter: a real MLLP client streams the St. Luke's feed into a running
 * FHIR server, and the converted records appear in FHIR searches for the linked patients,
 * attributed to their provider and merged with the other providers' records.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { HL7_DEMO_FEED, HL7_DEMO_LOCAL_IDS, HL7_DEMO_SOURCE_ID } from '../../adapters/hl7v2/demo-feed-source.ts';
import { splitBatch } from '../../adapters/hl7v2/file-drop.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { alice, bob, demoApp, json, source } from '../fhir/fhir-app.ts';
import { createEmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import { demoSources } from '../../server/embedded/demo-sources.ts';
import { client, openSource, sendWithClient, silentLog } from './support/hl7v2-harness.ts';

t.test('an MLLP feed becomes searchable FHIR for the linked patients', async (t) => {
  const feed = await openSource({ timezone: 'America/New_York' }, HL7_DEMO_SOURCE_ID);
  t.teardown(() => feed.close());
  const links = new InMemoryPatientLinks([
    ...DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId })),
    { patient: alice, sourceId: HL7_DEMO_SOURCE_ID, localId: HL7_DEMO_LOCAL_IDS.alice },
    { patient: bob, sourceId: HL7_DEMO_SOURCE_ID, localId: HL7_DEMO_LOCAL_IDS.bob },
  ]);
  // The embedded demo providers (their bundles) plus the feed: other kinds are not needed here.
  const embedded = await Promise.all(
    demoSources()
      .filter((c) => c.kind === 'embedded')
      .map(async (c) => source(c.id, await createEmbeddedAdapter(c, { log: silentLog, dataDir: feed.dir }), c.provider)),
  );
  const app = await demoApp({
    sources: [...embedded, source(HL7_DEMO_SOURCE_ID, feed.source, demoAddress('hl7-hospital'))],
    deps: { patientLinks: links },
  });
  t.teardown(() => app.close());

  const before = json(await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${alice}` }));
  const hl7 = client(feed.port);
  t.teardown(() => hl7.close());
  for (const message of splitBatch(readFileSync(HL7_DEMO_FEED, 'utf8'))) {
    t.equal((await sendWithClient(hl7, message)).code, 'AA');
  }
  await feed.source.drain();

  const after = json(await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${alice}` }));
  t.equal(after.total, before.total + 2, "alice's RDE and OMP orders joined her other providers' prescriptions");
  const fromFeed = after.entry.filter((e: any) => e.resource.meta.source.endsWith(`#${HL7_DEMO_SOURCE_ID}`));
  t.equal(fromFeed.length, 2);
  for (const e of fromFeed) {
    t.match(e.resource.id, new RegExp(`^${HL7_DEMO_SOURCE_ID}\\.`), 'ids carry the source');
    t.equal(e.resource.subject.reference, `Patient/${alice}`, 'the local MRN became the patient key');
    t.match(e.resource.medicationReference.reference, new RegExp(`^Medication/${HL7_DEMO_SOURCE_ID}\\.`));
  }

  const glucose = json(await app.inject({ method: 'GET', url: `/fhir/Observation?patient=${bob}&code=http://loinc.org|2345-7` }));
  t.equal(glucose.total, 1, "bob's glucose result, found by code");
  t.equal(glucose.entry[0].resource.valueQuantity.value, 142);

  const encounters = json(await app.inject({ method: 'GET', url: `/fhir/Encounter?patient=${bob}&status=finished` }));
  const stLukes = encounters.entry.filter((e: any) => e.resource.meta.source.endsWith(`#${HL7_DEMO_SOURCE_ID}`));
  t.equal(stLukes.length, 1, 'A01, A02 and A03 made one finished Encounter');
});
