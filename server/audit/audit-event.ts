/**
 * One access decision as a FHIR R4 AuditEvent (DICOM-derived RESTful access event): the agent
 * (caller address, client, purpose of use), the patients concerned as entities, the resource
 * type and the sources asked, and the outcome. Addresses and type names only: no PHI.
 */
import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import type { AccessDecisionRecord } from '../authz/chain-access-policy.ts';

const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const OBJECT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const PURPOSE_OF_USE = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const ETHEREUM = 'urn:ietf:rfc:3986';

/** HL7 v3 purpose-of-use codes for the consent purposes. */
const PURPOSE_CODES: Record<string, string> = {
  treatment: 'TREAT',
  payment: 'HPAYMT',
  operations: 'HOPERAT',
  research: 'HRESCH',
  'public-health': 'PUBHLTH',
};

export function toAuditEvent(id: string, r: AccessDecisionRecord): AuditEvent {
  const patientEntities: AuditEventEntity[] = r.patients.map((p) => ({
    what: { reference: `Patient/${p}` },
    type: { system: OBJECT_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  }));
  const queried: AuditEventEntity = {
    type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
    name: r.resourceType,
    detail: [
      { type: 'resourceType', valueString: r.resourceType },
      ...r.sources.map((s) => ({ type: 'source', valueString: s })),
    ],
  };
  const purpose = r.purpose && PURPOSE_CODES[r.purpose];
  return {
    resourceType: 'AuditEvent',
    id,
    type: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype: [
      r.action === 'read'
        ? { system: RESTFUL_INTERACTION, code: 'read', display: 'read' }
        : { system: RESTFUL_INTERACTION, code: 'search-type', display: 'search type' },
    ],
    action: r.action === 'read' ? 'R' : 'E',
    recorded: new Date(r.at).toISOString(),
    outcome: r.outcome === 'allowed' ? '0' : r.status >= 500 ? '8' : '4',
    ...(r.reason ? { outcomeDesc: r.reason } : {}),
    ...(purpose ? { purposeOfEvent: [{ coding: [{ system: PURPOSE_OF_USE, code: purpose }] }] } : {}),
    agent: [
      {
        who: r.subject ? { identifier: { system: ETHEREUM, value: `did:pkh:eip155:${r.subject}` }, display: r.subject } : { display: 'anonymous' },
        ...(r.clientId ? { altId: r.clientId } : {}),
        requestor: true,
        ...(purpose ? { purposeOfUse: [{ coding: [{ system: PURPOSE_OF_USE, code: purpose }] }] } : {}),
      },
    ],
    source: { observer: { display: 'MedRec-FHIR' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] },
    entity: [...patientEntities, queried],
  };
}
