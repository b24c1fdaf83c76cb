/**
 * PV1 (+ EVN) of an ADT event → Encounter. The encounter is identified by the visit number
 * (PV1-19), else by the admit time (PV1-44), else it is the patient's one current encounter, so
 * that A01, A02, A08 and A03 for the same visit update one Encounter instead of creating four.
 */
import type { Encounter, EncounterLocation, EncounterParticipant, Location, Practitioner, Reference } from '@medplum/fhirtypes';
import type { Er7Message, Er7Segment } from '../er7.ts';
import { hl7ToFhirDateTime } from '../hl7-datetime.ts';
import type { ConversionOptions, UpsertChange } from './conversion-result.ts';
import { assigningAuthority, codeableConcept, derivedId, numberKey, practitionerReference } from './v2-datatypes.ts';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CLASS: Readonly<Record<string, { code: string; display: string }>> = {
  I: { code: 'IMP', display: 'inpatient encounter' },
  B: { code: 'IMP', display: 'inpatient encounter' },
  O: { code: 'AMB', display: 'ambulatory' },
  R: { code: 'AMB', display: 'ambulatory' },
  E: { code: 'EMER', display: 'emergency' },
  P: { code: 'PRENC', display: 'pre-admission' },
};

/** Status an event sets; events absent here (A08, A28, A31) leave the stored status alone. */
const STATUS_BY_EVENT: Readonly<Record<string, Encounter['status']>> = {
  A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'arrived', A11: 'cancelled', A13: 'in-progress',
};

/** The id of the Encounter a PV1 segment designates (also used by orders and results that carry PV1). */
export function encounterId(message: Er7Message, patient: string, pv1: Er7Segment): string {
  const visit = pv1.get(19);
  // A visit number is unique within its assigning authority (else its sender), not per patient:
  // the id survives an A40 merge of the patient.
  if (visit) return derivedId('enc', ...numberKey('visit', visit, assigningAuthority(pv1.field(19)), message));
  const admit = pv1.get(44);
  if (admit) return derivedId('enc', patient, 'admit', admit);
  return derivedId('enc', patient, 'current');
}

/** Whether a PV1 designates a real encounter (PV1-2 `N` is "not applicable", sent with A28/A31). */
export function hasEncounter(pv1: Er7Segment | undefined): pv1 is Er7Segment {
  return pv1 !== undefined && pv1.get(2).toUpperCase() !== 'N' && (pv1.get(2) !== '' || pv1.get(19) !== '' || pv1.get(3) !== '');
}

export function encounterFromPv1(
  message: Er7Message,
  pv1: Er7Segment,
  patient: string,
  event: string,
  options: ConversionOptions,
): UpsertChange {
  const id = encounterId(message, patient, pv1);
  const encounter: Encounter = { resourceType: 'Encounter', id, status: 'unknown', class: { code: 'UNK' }, subject: { reference: `Patient/${patient}` } };
  const stated = encounter as unknown as Record<string, unknown>;
  delete stated.status;
  delete stated.class;
  const remove: string[] = [];
  const status = STATUS_BY_EVENT[event];
  if (status) encounter.status = status;
  const cls = CLASS[pv1.get(2).toUpperCase()];
  if (cls) encounter.class = { system: ACT_CODE, ...cls };
  if (pv1.get(19)) {
    encounter.identifier = [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'VN' }] }, value: pv1.get(19) }];
  }
  if (pv1.get(4)) encounter.type = [codeableConcept(pv1.field(4))!];
  if (pv1.get(10)) encounter.serviceType = codeableConcept(pv1.field(10));

  const location = pointOfCare(pv1, 3);
  if (location) {
    const locations: EncounterLocation[] = [{ location, status: event === 'A03' ? 'completed' : 'active' }];
    const prior = event === 'A02' ? pointOfCare(pv1, 6) : undefined;
    if (prior) locations.push({ location: prior, status: 'completed' });
    encounter.location = locations;
  }

  const participant: EncounterParticipant[] = [];
  for (const [n, code, display] of [[7, 'ATND', 'attender'], [8, 'REF', 'referrer'], [9, 'CON', 'consultant'], [17, 'ADM', 'admitter']] as const) {
    for (const xcn of pv1.repetitions(n)) {
      const individual = practitionerReference<Practitioner>(xcn);
      if (individual) {
        participant.push({ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code, display }] }], individual });
      }
    }
  }
  if (participant.length) encounter.participant = participant;
  if (pv1.get(36)) {
    encounter.hospitalization = { dischargeDisposition: codeableConcept(pv1.field(36)) };
  }

  const evn = message.segment('EVN');
  const eventTime = evn?.get(6) || evn?.get(2) || message.msh.get(7);
  const start = hl7ToFhirDateTime(pv1.get(44), options.timezone) ?? (['A01', 'A04'].includes(event) ? hl7ToFhirDateTime(eventTime ?? '', options.timezone) : undefined);
  let end = hl7ToFhirDateTime(pv1.get(45), options.timezone);
  if (!end && event === 'A03') end = hl7ToFhirDateTime(eventTime ?? '', options.timezone);
  if (event === 'A13') {
    end = undefined;
    remove.push('period.end'); // cancel discharge: the visit is open again, its admit time stays
  }
  if (start || end) encounter.period = { ...(start ? { start } : {}), ...(end ? { end } : {}) };

  return {
    kind: 'upsert',
    resource: encounter,
    patient,
    remove,
    // A message without PV1-44 (an A03, an A13) states part of the period: the admit time stays.
    partial: ['period'],
    defaults: { status: 'unknown', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' } },
  };
}

/** PL: point of care^room^bed^facility → a display-only Location reference. */
function pointOfCare(segment: Er7Segment, n: number): Reference<Location> | undefined {
  const pl = segment.field(n);
  const display = [pl.get(4, 1), pl.get(1), pl.get(2), pl.get(3)].filter((p) => p !== '').join(' / ');
  return display ? { display } : undefined;
}
