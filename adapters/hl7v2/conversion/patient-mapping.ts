/**
 * PID → Patient, and the local patient id every record of the feed is filed under.
 *
 * Local patient id: the PID-3 repetition whose identifier type (CX-5) is `MR`, else the first
 * repetition, written `<assigning authority>-<id>` (`SLMC^...` MRN `00012345` → `SLMC-00012345`);
 * without an assigning authority it is the id alone. The encoding is collision-free (two
 * different identifiers never share a local id, since links and compartments name these ids):
 * letters and digits stay as they are, every other character becomes `.` + its UTF-8 bytes in
 * upper-case hex (`-` → `.2D`, `.` → `.2E`, `/` → `.2F`), so the one bare `-` is the separator.
 * An id that would exceed FHIR's 64 characters becomes `p..` + 40 hex digits of a SHA-256 (no
 * encoded id contains `..`). The same rule reads MRG-1 for A40. A change to it re-files stored
 * records: raise RECORD_KEY_SCHEME (store/record-key-scheme.ts).
 */
import { createHash } from 'node:crypto';
import type { Extension, Patient } from '@medplum/fhirtypes';
import type { Er7Field, Er7Segment } from '../er7.ts';
import { hl7ToFhirDate, hl7ToFhirDateTime } from '../hl7-datetime.ts';
import { ConversionError, type ConversionOptions, type UpsertChange } from './conversion-result.ts';
import { address, assigningAuthority, codeableConcept, contactPoint, humanName, identifier } from './v2-datatypes.ts';

export function localPatientIdFromCx(repetitions: readonly Er7Field[]): string | undefined {
  const chosen = repetitions.find((cx) => cx.get(5).toUpperCase() === 'MR' && cx.get(1)) ?? repetitions.find((cx) => cx.get(1));
  if (!chosen) return undefined;
  const authority = assigningAuthority(chosen);
  const id = authority ? `${idPart(authority)}-${idPart(chosen.get(1))}` : idPart(chosen.get(1));
  return id.length <= 64 ? id : `p..${createHash('sha256').update(`${authority}\u001f${chosen.get(1)}`).digest('hex').slice(0, 40)}`;
}

function idPart(value: string): string {
  return value.replace(/[^A-Za-z0-9]/gu, (ch) => [...Buffer.from(ch, 'utf8')].map((b) => `.${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** The local patient id of a message's PID segment; throws when PID-3 has no identifier. */
export function localPatientId(pid: Er7Segment | undefined): string {
  const id = pid ? localPatientIdFromCx(pid.repetitions(3)) : undefined;
  if (!id) throw new ConversionError('PID-3 patient identifier list is required', '101', 'PID^1^3');
  return id;
}

const GENDER: Readonly<Record<string, Patient['gender']>> = {
  M: 'male', F: 'female', O: 'other', A: 'other', U: 'unknown', N: 'unknown',
};

export function patientFromPid(pid: Er7Segment, options: ConversionOptions): UpsertChange {
  const id = localPatientId(pid);
  const patient: Patient = { resourceType: 'Patient', id };
  const remove: string[] = [];
  /** Sets an element from field n when the field is present, or removes it on `""`. */
  const from = <K extends keyof Patient>(n: number, element: K, value: () => Patient[K] | undefined): void => {
    if (pid.isNull(n)) remove.push(element);
    else if (pid.rawField(n) !== '') {
      const v = value();
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) patient[element] = v;
    }
  };

  from(3, 'identifier', () => {
    const ids = pid.repetitions(3).map((cx) => identifier(cx, options.sourceId)).filter((i) => i !== undefined);
    const ssn = pid.get(19);
    if (ssn) ids.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn });
    return ids;
  });
  from(5, 'name', () => pid.repetitions(5).map(humanName).filter((n) => n !== undefined));
  from(7, 'birthDate', () => hl7ToFhirDate(pid.get(7).slice(0, 8)));
  if (pid.get(7).length > 8) {
    const birthTime = hl7ToFhirDateTime(pid.get(7), options.timezone);
    if (birthTime) {
      const ext: Extension = { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: birthTime };
      (patient as Patient & { _birthDate?: { extension: Extension[] } })._birthDate = { extension: [ext] };
    }
  }
  from(8, 'gender', () => GENDER[pid.get(8).toUpperCase()]);
  from(11, 'address', () => pid.repetitions(11).map(address).filter((a) => a !== undefined));
  const telecom = [
    ...pid.repetitions(13).map((x) => contactPoint(x, 'home')),
    ...pid.repetitions(14).map((x) => contactPoint(x, 'work')),
  ].filter((t) => t !== undefined);
  if (telecom.length) patient.telecom = telecom;
  else if (pid.isNull(13) && (pid.isNull(14) || pid.rawField(14) === '')) remove.push('telecom');
  from(15, 'communication', () => {
    const language = codeableConcept(pid.field(15));
    return language ? [{ language }] : undefined;
  });
  from(16, 'maritalStatus', () => {
    const code = pid.get(16);
    return code
      ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code }], ...(pid.get(16, 2) ? { text: pid.get(16, 2) } : {}) }
      : undefined;
  });
  const deceasedAt = hl7ToFhirDateTime(pid.get(29), options.timezone);
  if (deceasedAt) patient.deceasedDateTime = deceasedAt;
  else if (pid.get(30).toUpperCase() === 'Y') patient.deceasedBoolean = true;
  else if (pid.get(30).toUpperCase() === 'N') patient.deceasedBoolean = false;
  if (patient.deceasedDateTime || patient.deceasedBoolean !== undefined) {
    remove.push(patient.deceasedDateTime ? 'deceasedBoolean' : 'deceasedDateTime');
  }
  patient.active = true;
  return { kind: 'upsert', resource: patient, patient: id, remove };
}
