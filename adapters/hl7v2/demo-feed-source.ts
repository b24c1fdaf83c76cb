/**
 * The embedded demo's HL7v2 provider, St. Luke's Medical Center: an `hl7v2` source whose store is
 * filled at start from the bundled sample feed (sample-feed/st-lukes.hl7: ADT, RDE/OMP/ORM
 * pharmacy orders, ORU results and allergies for the demo cast), with a live MLLP listener on
 * loopback so that a demo interface engine can keep feeding it.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HL7_DEMO_SOURCE_ID = 'hl7-hospital';

export const HL7_DEMO_FEED = join(dirname(fileURLToPath(import.meta.url)), 'sample-feed', 'st-lukes.hl7');

/** Local patient ids (PID-3 MRN under assigning authority SLMC) of the demo cast in the feed. */
export const HL7_DEMO_LOCAL_IDS: Readonly<Record<'alice' | 'bob' | 'carol', string>> = {
  alice: 'SLMC-100201',
  bob: 'SLMC-100202',
  carol: 'SLMC-100203',
};

/** `options` of the demo source's SourceConfig; `mllpPort` 0 picks a free port. */
export function hl7DemoSourceOptions(mllpPort = 0): Record<string, unknown> {
  return {
    mllp: { host: '127.0.0.1', port: mllpPort },
    timezone: 'America/New_York',
    sampleFeed: HL7_DEMO_FEED,
  };
}
