/**
 * Adapter kinds by name. Each kind is imported only when a configured source uses it, so a node
 * that runs only upstream-FHIR sources never loads the SQL drivers or the HL7v2 listener.
 */
import type { AdapterFactory } from './source-config.ts';

export const adapterKinds: Readonly<Record<string, () => Promise<AdapterFactory>>> = {
  // Each adapter kind adds one line here, e.g.
  // embedded: async () => (await import('./embedded/embedded-adapter.ts')).createEmbeddedAdapter,
  embedded: async () => (await import('./embedded/embedded-adapter.ts')).createEmbeddedAdapter,
  fhir: async () => (await import('./fhir/fhir-adapter.ts')).createFhirAdapter,
  sql: async () => (await import('./sql/sql-source.ts')).createSqlAdapter,
  hl7v2: async () => (await import('./hl7v2/hl7v2-adapter.ts')).createHl7v2Adapter,
};
