/**
 * The embedded demo's sources: five providers whose records overlap on the same people
 * (alice, bob, carol, dave; links in demo-links.ts): three served by the `embedded` kind from
 * the bundles in demo-data/, an OpenMRS database (SQL) and an HL7v2 feed.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceConfig } from '../../adapters/source-config.ts';
import { HL7_DEMO_SOURCE_ID, hl7DemoSourceOptions } from '../../adapters/hl7v2/demo-feed-source.ts';
import { OPENMRS_DEMO_SOURCE_ID, OPENMRS_DEMO_SOURCE_OPTIONS } from '../../adapters/sql/openmrs/openmrs-demo.ts';
import { DEMO_CAST, demoAddress } from './demo-identities.ts';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), 'demo-data');

function provider(handle: string): { provider: string; name: string } {
  const identity = DEMO_CAST.find((i) => i.handle === handle);
  if (!identity) throw new Error(`unknown demo provider ${handle}`);
  return { provider: demoAddress(handle), name: identity.displayName };
}

export function demoSources(): SourceConfig[] {
  return [
    { id: 'hospital', kind: 'embedded', ...provider('hospital'), options: { files: [join(dataDir, 'hospital.json')] } },
    { id: 'clinic', kind: 'embedded', ...provider('clinic'), options: { files: [join(dataDir, 'clinic.json')] } },
    { id: 'pharmacy-records', kind: 'embedded', ...provider('pharmacy-records'), options: { files: [join(dataDir, 'pharmacy-records.json')] } },
    // Hillside OpenMRS Clinic: an OpenMRS database (SQLite under the data dir, seeded on first start).
    { id: OPENMRS_DEMO_SOURCE_ID, kind: 'sql', ...provider(OPENMRS_DEMO_SOURCE_ID), options: OPENMRS_DEMO_SOURCE_OPTIONS },
    // St. Luke's: an HL7v2 feed (MLLP listener on a free port) preloaded with the bundled sample feed.
    { id: HL7_DEMO_SOURCE_ID, kind: 'hl7v2', ...provider('hl7-hospital'), options: hl7DemoSourceOptions() },
  ];
}
