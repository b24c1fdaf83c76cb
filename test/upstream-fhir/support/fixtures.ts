/**
 * Records for the test upstream: three patients with observations (two categories), medication
 * requests and a condition each, and an organization outside any compartment.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import type { AdapterContext, SourceConfig } from '../../../adapters/source-config.ts';

export const PATIENTS = ['p1', 'p2', 'p3'] as const;

export function clinicalRecords(observationsPerPatient = 6): Resource[] {
  const records: Resource[] = [{ resourceType: 'Organization', id: 'org1', name: 'Test Hospital' }];
  for (const patient of PATIENTS) {
    records.push({ resourceType: 'Patient', id: patient, gender: 'unknown', birthDate: '1980-01-01' });
    for (let i = 0; i < observationsPerPatient; i++) {
      const category = i % 2 === 0 ? 'vital-signs' : 'laboratory';
      records.push({
        resourceType: 'Observation',
        id: `${patient}-obs${i}`,
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
        code: { coding: [{ system: 'http://loinc.org', code: category === 'vital-signs' ? '8867-4' : '2339-0' }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: `2024-0${(i % 9) + 1}-01`,
      });
    }
    records.push({
      resourceType: 'MedicationRequest',
      id: `${patient}-mr1`,
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { text: 'amoxicillin' },
      subject: { reference: `Patient/${patient}` },
    });
    records.push({ resourceType: 'Condition', id: `${patient}-c1`, subject: { reference: `Patient/${patient}` }, code: { text: 'x' } });
  }
  return records;
}

export function sourceConfig(id: string, options: Record<string, unknown>): SourceConfig {
  return { id, kind: 'fhir', provider: '0x00000000000000000000000000000000000000a1', name: `Test ${id}`, options };
}

export interface LogLine {
  readonly level: string;
  readonly text: string;
}

/** A logger that keeps every line (as JSON text) so tests can check what the adapter logs. */
export function recordingLogger(lines: LogLine[] = []): FastifyBaseLogger & { lines: LogLine[] } {
  const at = (level: string) => (...args: unknown[]) => {
    lines.push({ level, text: JSON.stringify(args) });
  };
  const logger = {
    level: 'trace',
    lines,
    fatal: at('fatal'), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace'), silent: () => undefined,
    child: () => logger,
  };
  return logger as unknown as FastifyBaseLogger & { lines: LogLine[] };
}

export function testContext(dataDir: string, log = recordingLogger()): AdapterContext {
  return { log, dataDir };
}

export function signal(): AbortSignal {
  return new AbortController().signal;
}
