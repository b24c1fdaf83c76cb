/**
 * Which v2 messages this adapter takes, what makes one acceptable, and its conversion to store
 * changes. `checkMessage` runs on the MLLP path before the ACK (cheap, structural);
 * `convertMessage` runs in the conversion worker.
 */
import { Er7Message, type Er7Segment } from '../er7.ts';
import { allergyFromAl1 } from './allergy-mapping.ts';
import { ConversionError, type ConversionOptions, type StoreChange } from './conversion-result.ts';
import { encounterFromPv1, hasEncounter } from './encounter-mapping.ts';
import { medicationRequests, orderGroups } from './medication-mapping.ts';
import { resultsFromOru } from './observation-mapping.ts';
import { localPatientId, localPatientIdFromCx, patientFromPid } from './patient-mapping.ts';

export const SUPPORTED_EVENTS: Readonly<Record<string, readonly string[]>> = {
  ADT: ['A01', 'A02', 'A03', 'A04', 'A08', 'A11', 'A13', 'A28', 'A31', 'A40'],
  RDE: ['O11', 'O25'],
  OMP: ['O09'],
  ORM: ['O01'],
  ORU: ['R01'],
};

/** Why a message is refused: the ACK code and the ERR contents (HL7 table 0357). */
export interface Refusal {
  readonly ackCode: 'AE' | 'AR';
  readonly hl7Code: string;
  readonly text: string;
  /** ERL: segment id ^ sequence ^ field. */
  readonly location: string;
}

export interface AcceptanceRules {
  /** MSH-11 processing ids taken (default `P`); others are refused with AR 202. */
  readonly processingIds: readonly string[];
}

export function checkMessage(message: Er7Message, rules: AcceptanceRules): Refusal | undefined {
  const msh = message.msh;
  const { code, trigger } = message.messageType;
  if (!code) return { ackCode: 'AR', hl7Code: '101', text: 'MSH-9 message type is required', location: 'MSH^1^9' };
  if (!message.controlId) return { ackCode: 'AR', hl7Code: '101', text: 'MSH-10 message control id is required', location: 'MSH^1^10' };
  const events = SUPPORTED_EVENTS[code];
  if (!events) return { ackCode: 'AR', hl7Code: '200', text: `message type ${code} is not supported`, location: 'MSH^1^9^1' };
  if (!events.includes(trigger)) {
    return { ackCode: 'AR', hl7Code: '201', text: `event ${code}^${trigger} is not supported`, location: 'MSH^1^9^2' };
  }
  const processing = msh.get(11).toUpperCase();
  if (processing && !rules.processingIds.includes(processing)) {
    return { ackCode: 'AR', hl7Code: '202', text: `processing id ${processing} is not accepted here`, location: 'MSH^1^11' };
  }
  const version = msh.get(12);
  if (version && !/^2\.[1-8](\.\d+)?$/.test(version)) {
    return { ackCode: 'AR', hl7Code: '203', text: `HL7 version ${version} is not supported`, location: 'MSH^1^12' };
  }
  const pid = message.segment('PID');
  if (!pid) return { ackCode: 'AE', hl7Code: '100', text: 'required segment PID is missing', location: 'PID' };
  if (!localPatientIdFromCx(pid.repetitions(3))) {
    return { ackCode: 'AE', hl7Code: '101', text: 'PID-3 patient identifier list is required', location: 'PID^1^3' };
  }
  if (code !== 'ORU' && message.all('PID').length > 1) {
    // Never file one patient's data under another: refused visibly rather than half applied.
    return { ackCode: 'AE', hl7Code: '100', text: `one patient per ${code} message is supported (found several PID segments)`, location: 'PID^2' };
  }
  if (code === 'ADT' && trigger === 'A40') {
    const mrg = message.segment('MRG');
    if (!mrg || !localPatientIdFromCx(mrg.repetitions(1))) {
      return { ackCode: 'AE', hl7Code: '101', text: 'MRG-1 prior patient identifier is required for A40', location: 'MRG^1^1' };
    }
  }
  if ((code === 'RDE' || code === 'OMP' || code === 'ORM') && orderGroups(message).length === 0) {
    const segment = code === 'RDE' ? 'RXE' : 'RXO';
    return { ackCode: 'AE', hl7Code: '100', text: `required segment ${segment} is missing (only pharmacy orders are taken)`, location: segment };
  }
  if (code === 'ORU') {
    // ORU^R01 may carry several patients (PATIENT_RESULT groups): each must be complete.
    const groups = patientGroups(message);
    for (const [i, group] of groups.entries()) {
      const at = `PID^${i + 1}^3`;
      if (!localPatientIdFromCx(group.segment('PID')!.repetitions(3))) {
        return { ackCode: 'AE', hl7Code: '101', text: 'PID-3 patient identifier list is required', location: at };
      }
      const first = group.segments.findIndex((s) => s.name === 'OBR');
      if (first === -1) return { ackCode: 'AE', hl7Code: '100', text: 'required segment OBR is missing', location: 'OBR' };
      const strayObx = group.segments.findIndex((s) => s.name === 'OBX');
      if (strayObx !== -1 && strayObx < first) return { ackCode: 'AE', hl7Code: '100', text: 'OBX before its OBR', location: 'OBX' };
    }
  }
  return undefined;
}

/**
 * The message split at each PID: one sub-message (MSH + that patient's segments) per patient,
 * so that results are never filed under another patient of the same message.
 */
export function patientGroups(message: Er7Message): Er7Message[] {
  const [msh, ...rest] = message.segments;
  const groups: Er7Segment[][] = [];
  for (const segment of rest) {
    if (segment.name === 'PID') groups.push([segment]);
    else if (groups.length) groups.at(-1)!.push(segment);
  }
  return groups.map((segments) => new Er7Message([msh!, ...segments], message.delimiters));
}

export interface Conversion {
  /** Local patient ids whose records changed (for record-change notifications). */
  readonly patients: readonly string[];
  readonly changes: readonly StoreChange[];
}

export function convertMessage(message: Er7Message, options: ConversionOptions): Conversion {
  const { code, trigger } = message.messageType;
  const pid = message.segment('PID');
  const patient = localPatientId(pid);
  const changes: StoreChange[] = [];
  const patients = [patient];

  if (code === 'ADT') {
    if (trigger === 'A40') {
      const mrg = message.segment('MRG');
      const from = mrg ? localPatientIdFromCx(mrg.repetitions(1)) : undefined;
      if (!from) throw new ConversionError('MRG-1 prior patient identifier is required for A40', '101', 'MRG^1^1');
      changes.push(patientFromPid(pid!, options));
      if (from !== patient) {
        changes.push({ kind: 'merge-patients', from, into: patient });
        patients.push(from);
      }
    } else {
      changes.push(patientFromPid(pid!, options));
      const pv1 = message.segment('PV1');
      if (hasEncounter(pv1) && trigger !== 'A28' && trigger !== 'A31') {
        changes.push(encounterFromPv1(message, pv1, patient, trigger, options));
      } else if (hasEncounter(pv1) && trigger === 'A31' && pv1.get(19)) {
        changes.push(encounterFromPv1(message, pv1, patient, trigger, options));
      }
    }
  } else if (code === 'RDE' || code === 'OMP' || code === 'ORM') {
    changes.push(...medicationRequests(message, patient, options));
  } else if (code === 'ORU') {
    for (const group of patientGroups(message)) {
      const groupPatient = localPatientId(group.segment('PID'));
      changes.push(...resultsFromOru(group, groupPatient, options));
      if (!patients.includes(groupPatient)) patients.push(groupPatient);
    }
  } else {
    throw new ConversionError(`message type ${code} is not supported`, '200', 'MSH^1^9');
  }
  // Allergies ride along in ADT (and sometimes order) messages.
  for (const al1 of message.all('AL1')) {
    const allergy = allergyFromAl1(al1, patient, options);
    if (allergy) changes.push(allergy);
  }
  return { patients, changes };
}
