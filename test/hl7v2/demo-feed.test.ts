/**
 * The embedded demo's St. Luke's source: opened with its factory options, it converts the bundled
 * feed at start, records exist under the published local ids of the demo patients (for
 * demo-links), alice has pharmacy orders, and a restart does not apply the feed twice.
 */
import t from 'tap';
import type { MedicationRequest } from '@medplum/fhirtypes';
import { HL7_DEMO_LOCAL_IDS, HL7_DEMO_SOURCE_ID, hl7DemoSourceOptions } from '../../adapters/hl7v2/demo-feed-source.ts';
import { Hl7v2Source } from '../../adapters/hl7v2/hl7v2-adapter.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from './support/hl7v2-harness.ts';

const signal = new AbortController().signal;
const config = { id: HL7_DEMO_SOURCE_ID, kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000005', name: "St. Luke's Medical Center (HL7v2 feed)", options: hl7DemoSourceOptions() };

t.test('the demo source is fed from the bundled sample feed at start', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-demo-'));
  const first = await Hl7v2Source.open(config, { log: silentLog, dataDir });
  await first.drain();
  const count = async (source: Hl7v2Source, type: string, patient: string): Promise<number> =>
    (await source.search({ resourceType: type, filters: [], count: 100, patients: [patient] }, signal)).resources.length;
  t.equal(await count(first, 'Patient', HL7_DEMO_LOCAL_IDS.alice), 1);
  t.equal(await count(first, 'Patient', HL7_DEMO_LOCAL_IDS.bob), 1);
  t.equal(await count(first, 'Patient', HL7_DEMO_LOCAL_IDS.carol), 1);
  const orders = (await first.search({ resourceType: 'MedicationRequest', filters: [], count: 100, patients: [HL7_DEMO_LOCAL_IDS.alice] }, signal)).resources as MedicationRequest[];
  t.same(orders.map((o) => o.medicationReference?.display).sort(), ['Amoxicillin 250 MG Oral Capsule', 'Diphenhydramine 25 MG Oral Tablet'], "alice's RDE and OMP orders for the pharmacy demo");
  t.equal(await count(first, 'Observation', HL7_DEMO_LOCAL_IDS.alice), 3);
  t.equal(await count(first, 'AllergyIntolerance', HL7_DEMO_LOCAL_IDS.alice), 2);
  t.equal(await count(first, 'Encounter', HL7_DEMO_LOCAL_IDS.bob), 1);
  t.equal(await count(first, 'MedicationRequest', HL7_DEMO_LOCAL_IDS.carol), 1);
  await first.close();

  const second = await Hl7v2Source.open(config, { log: silentLog, dataDir });
  t.teardown(() => second.close());
  await second.drain();
  const patient = await second.read('Patient', HL7_DEMO_LOCAL_IDS.alice, signal);
  t.equal(patient?.meta?.versionId, '2', 'restarting re-reads the feed as duplicates: nothing applied twice');
  t.type(second.mllpPort, 'number', 'and it listens for more');
});
