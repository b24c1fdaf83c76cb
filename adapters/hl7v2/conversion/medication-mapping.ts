/**
 * Pharmacy orders → MedicationRequest (+ Medication when the drug is coded).
 * RDE^O11/O25 carry RXE (the pharmacy's encoded order, preferred, as LinuxForHealth and the
 * Microsoft templates do); OMP^O09 and ORM^O01 carry RXO (the placer's requested order). Each ORC
 * starts an order group; the order is identified by placer (ORC-2), else filler (ORC-3) number
 * (within its namespace, else its sender), so a later DC/CA/XO for the same order replaces it:
 * whole, since each group restates the complete order.
 */
import type { Dosage, Medication, MedicationRequest, Practitioner } from '@medplum/fhirtypes';
import type { Er7Message, Er7Segment } from '../er7.ts';
import { hl7ToFhirDateTime } from '../hl7-datetime.ts';
import { ConversionError, type ConversionOptions, type StoreChange } from './conversion-result.ts';
import { encounterId, hasEncounter } from './encounter-mapping.ts';
import {
  codeableConcept, codingSystem, conceptKey, derivedId, eiNamespace, isNumber, numberKey, practitionerReference, quantity as toQuantity,
} from './v2-datatypes.ts';

/** ORC-5 order status (table 0038) → MedicationRequest.status. */
const ORDER_STATUS: Readonly<Record<string, MedicationRequest['status']>> = {
  A: 'active', CA: 'cancelled', CM: 'completed', DC: 'stopped', ER: 'entered-in-error', HD: 'on-hold', IP: 'active', SC: 'active', RP: 'active',
};
/** ORC-1 order control (table 0119) → status, when ORC-5 is empty. */
const ORDER_CONTROL: Readonly<Record<string, MedicationRequest['status']>> = {
  NW: 'active', OK: 'active', SC: 'active', XO: 'active', XX: 'active', RL: 'active', OE: 'active', RE: 'active', RP: 'active',
  CA: 'cancelled', OC: 'cancelled', CR: 'cancelled', DC: 'stopped', OD: 'stopped', DR: 'stopped', HD: 'on-hold', OH: 'on-hold',
};
const PRIORITY: Readonly<Record<string, MedicationRequest['priority']>> = { S: 'stat', A: 'asap', R: 'routine', P: 'urgent', T: 'urgent' };

interface OrderGroup {
  orc?: Er7Segment;
  rxe?: Er7Segment;
  rxo?: Er7Segment;
  rxr: Er7Segment[];
  tq1?: Er7Segment;
  nte: Er7Segment[];
}

export function orderGroups(message: Er7Message): OrderGroup[] {
  const groups: OrderGroup[] = [];
  let current: OrderGroup | undefined;
  for (const segment of message.segments) {
    if (segment.name === 'ORC') {
      current = { orc: segment, rxr: [], nte: [] };
      groups.push(current);
      continue;
    }
    if (!['RXE', 'RXO', 'RXR', 'TQ1', 'NTE'].includes(segment.name)) continue;
    if (!current) {
      if (segment.name === 'NTE') continue; // message-level notes
      current = { rxr: [], nte: [] };
      groups.push(current);
    }
    if (segment.name === 'RXE') current.rxe ??= segment;
    else if (segment.name === 'RXO') current.rxo ??= segment;
    else if (segment.name === 'RXR') current.rxr.push(segment);
    else if (segment.name === 'TQ1') current.tq1 ??= segment;
    else current.nte.push(segment);
  }
  return groups.filter((g) => g.rxe || g.rxo);
}

export function medicationRequests(message: Er7Message, patient: string, options: ConversionOptions): StoreChange[] {
  const groups = orderGroups(message);
  if (groups.length === 0) {
    throw new ConversionError(`${message.messageType.code}^${message.messageType.trigger} has no RXE/RXO pharmacy order segment`, '100', 'ORC');
  }
  const pv1 = message.segment('PV1');
  const changes: StoreChange[] = [];
  groups.forEach((group, index) => {
    const { orc, rxe, rxo } = group;
    const placer = orc?.field(2);
    const filler = orc?.field(3);
    const key = placer?.get(1)
      ? numberKey('placer', placer.get(1), eiNamespace(placer), message)
      : filler?.get(1)
        ? numberKey('filler', filler.get(1), eiNamespace(filler), message)
        : rxe?.get(15)
          ? numberKey('rx', rxe.get(15), '', message)
          : ['msg', message.sender, message.controlId, String(index)];
    // An order number is unique in its namespace, so the id does not depend on the patient (it survives A40).
    const id = derivedId('mr', ...key);
    const request: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id,
      status: ORDER_STATUS[orc?.get(5).toUpperCase() ?? ''] ?? ORDER_CONTROL[orc?.get(1).toUpperCase() ?? ''] ?? 'unknown',
      intent: 'order',
      subject: { reference: `Patient/${patient}` },
    };

    const identifiers = [];
    if (placer?.get(1)) identifiers.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] }, value: placer.get(1) });
    if (filler?.get(1)) identifiers.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] }, value: filler.get(1) });
    if (rxe?.get(15)) identifiers.push({ type: { text: 'prescription number' }, value: rxe.get(15) });
    if (identifiers.length) request.identifier = identifiers;

    // Drug: RXE-2 give code, else RXO-1 requested give code.
    const drugField = rxe ? rxe.field(2) : rxo!.field(1);
    const drug = codeableConcept(drugField);
    if (drug?.coding?.length) {
      // A code of a known system names the same drug whoever sends it; a local code only at its sender.
      const medicationKey = codingSystem(drugField.get(3)) ? [conceptKey(drugField)] : [message.sender, conceptKey(drugField)];
      const medication: Medication = { resourceType: 'Medication', id: derivedId('med', ...medicationKey), code: drug };
      const form = codeableConcept(rxe ? rxe.field(6) : rxo!.field(5));
      if (form) medication.form = form;
      changes.push({ kind: 'upsert', resource: medication, patient: null });
      request.medicationReference = { reference: `Medication/${medication.id}`, display: drug.text ?? drug.coding[0]?.display };
    } else if (drug) {
      request.medicationCodeableConcept = drug;
    }

    const authored = hl7ToFhirDateTime(orc?.get(9) ?? '', options.timezone) ?? hl7ToFhirDateTime(message.msh.get(7), options.timezone);
    if (authored) request.authoredOn = authored;
    const requester = orc ? practitionerReference<Practitioner>(orc.field(12)) : undefined;
    const requesterRxo = rxo ? practitionerReference<Practitioner>(rxo.field(14)) : undefined;
    if (requester ?? requesterRxo) request.requester = requester ?? requesterRxo;
    if (hasEncounter(pv1)) request.encounter = { reference: `Encounter/${encounterId(message, patient, pv1)}` };

    const dosage = dosageOf(group, options);
    if (dosage) request.dosageInstruction = [dosage];

    const quantity = rxe ? rxe.get(10) : rxo!.get(11);
    const quantityUnit = rxe ? rxe.field(11) : rxo!.field(12);
    const refills = rxe ? rxe.get(12) : rxo!.get(13);
    const dispense: NonNullable<MedicationRequest['dispenseRequest']> = {};
    if (isNumber(quantity)) {
      dispense.quantity = toQuantity(quantity, quantityUnit);
    }
    if (/^\d+$/.test(refills)) dispense.numberOfRepeatsAllowed = Number(refills);
    if (Object.keys(dispense).length) request.dispenseRequest = dispense;

    const priority = PRIORITY[(group.tq1?.get(9) || orc?.get(7, 6) || '').toUpperCase()];
    if (priority) request.priority = priority;
    const reasonField = orc && !orc.field(16).isEmpty ? orc.field(16) : rxe?.field(27);
    const reason = reasonField ? codeableConcept(reasonField) : undefined;
    if (reason) request.reasonCode = [reason];
    const notes = group.nte.map((n) => n.repetitions(3).map((r) => r.get(1)).join('\n')).filter((t) => t !== '');
    if (notes.length) request.note = notes.map((text) => ({ text }));

    changes.push({ kind: 'upsert', resource: request, patient, replace: true });
  });
  return changes;
}

function dosageOf(group: OrderGroup, options: ConversionOptions): Dosage | undefined {
  const { rxe, rxo, rxr, tq1 } = group;
  const dosage: Dosage = {};
  const text = rxe ? rxe.get(7, 2) || rxe.get(7, 1) : rxo!.get(7, 2) || rxo!.get(7, 1);
  if (text) dosage.text = text;
  const amount = rxe ? rxe.get(3) : rxo!.get(2);
  const unit = rxe ? rxe.field(5) : rxo!.field(4);
  if (isNumber(amount)) {
    dosage.doseAndRate = [{ doseQuantity: toQuantity(amount, unit) }];
  }
  const route = rxr[0] ? codeableConcept(rxr[0].field(1)) : undefined;
  if (route) dosage.route = route;
  // Timing: TQ1-3 repeat pattern (v2.5+), else the quantity/timing of RXE-1 (TQ, component 2).
  const repeat = tq1?.get(3) || rxe?.get(1, 2).split('&')[0] || '';
  if (repeat) dosage.timing = { code: { text: repeat } };
  const start = tq1 ? hl7ToFhirDateTime(tq1.get(7), options.timezone) : undefined;
  const end = tq1 ? hl7ToFhirDateTime(tq1.get(8), options.timezone) : undefined;
  if (start || end) {
    dosage.timing = { ...dosage.timing, repeat: { boundsPeriod: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } };
  }
  if (rxe?.get(21)) dosage.patientInstruction = rxe.get(21, 2) || rxe.get(21, 1);
  return Object.keys(dosage).length ? dosage : undefined;
}
