/**
 * The embedded demo's ready-to-use SMART clients and one-click demo sign-in. Like the demo cast's
 * mnemonic, every secret and key here is PUBLISHED: they exist so anyone can try the server, and
 * must never be configured on a real deployment.
 */
import type { JWK } from 'jose';
import { DEMO_CAST, demoAddress, demoWallet } from '../server/embedded/demo-identities.ts';
import type { SmartClient } from './clients.ts';
import type { DemoSigner, ParticipantInfo, ParticipantRole } from './smart-context.ts';

/** The demo pharmacy backend's private key (ES384, published). Sign client assertions with it. */
export const DEMO_PHARMACY_PRIVATE_JWK: JWK = {
  kty: 'EC',
  crv: 'P-384',
  kid: 'demo-pharmacy-es384',
  alg: 'ES384',
  x: 'Uf9fosdVz0I7-OPvUD3vQS0YFIODVzpvGGwdbDGGOemm9Q9wMOhzmMdTjYGfZrHo',
  y: 'HIyFW296pQgR0K9tl77HpPJDe9053y4fQg2pTNbxgD3Yfx90QPqcvu5gBj4drBcb',
  d: 'uaYW5cpSfzwkEFxvMjtL1u0quqhYiGkeJhrr_cb1D68e4PELXn4FLap2RpOo4z7q',
};

export const DEMO_CLINICIAN_SECRET = 'demo-clinician-secret-published';

/**
 * `publicUrl` (the server's origin as browsers reach it): the demo patient app is then the demo
 * SMART app the server itself serves (server/web/demo-app), so an EHR launch opens a working app.
 */
export function demoClients(publicUrl?: string): SmartClient[] {
  const { d: _private, ...pharmacyPublic } = DEMO_PHARMACY_PRIVATE_JWK;
  const served = publicUrl ? new URL(publicUrl).origin : undefined;
  return [
    {
      clientId: 'medrec-demo-patient-app',
      name: 'MedRec demo patient app (public, PKCE)',
      type: 'public',
      // Loopback redirect URIs match on any port (RFC 8252), so a local app can pick its own.
      redirectUris: [...(served ? [`${served}/demo-app/`] : []), 'http://localhost:8000/callback', 'http://127.0.0.1:8000/callback'],
      launchUrl: served ? `${served}/demo-app/launch` : 'http://localhost:8000/launch',
    },
    {
      clientId: 'medrec-demo-clinician-app',
      name: 'MedRec demo clinician app (confidential, client secret)',
      type: 'confidential-symmetric',
      secret: DEMO_CLINICIAN_SECRET,
      // A developer's own app (nothing in the demo runs at :8001): standalone launch only, so the
      // provider console does not offer an EHR launch into nowhere.
      redirectUris: ['http://localhost:8001/callback', 'http://127.0.0.1:8001/callback'],
    },
    {
      clientId: 'medrec-demo-pharmacy-backend',
      name: 'Corner Pharmacy system (SMART Backend Services)',
      type: 'backend',
      redirectUris: [],
      jwks: { keys: [pharmacyPublic] },
      address: demoAddress('pharmacy'),
      allowedScope: [
        'system/MedicationRequest.rs',
        'system/MedicationRequest.read',
        'system/MedicationDispense.rs',
        'system/MedicationStatement.rs',
        'system/Medication.rs',
        'system/Patient.r',
        'system/Patient.read',
      ].join(' '),
    },
  ];
}

/** One-click sign-in for every demo person (not the operator or the provider organisations). */
export function demoSigners(): DemoSigner[] {
  return DEMO_CAST.filter((i) => ['patient', 'proxy', 'clinician', 'pharmacy', 'researcher'].includes(i.role)).map((i) => ({
    handle: i.handle,
    displayName: i.displayName,
    address: demoAddress(i.handle),
    signMessage: (message: string) => demoWallet(i.handle).signMessage(message),
  }));
}

/** Names and roles of the demo cast, for the consent screen and fhirUser. */
export function describeDemoParticipant(address: string): Promise<ParticipantInfo | undefined> {
  const identity = DEMO_CAST.find((i) => demoAddress(i.handle) === address.toLowerCase());
  if (!identity) return Promise.resolve(undefined);
  const role: ParticipantRole | undefined = identity.role === 'operator' ? undefined : identity.role;
  return Promise.resolve({ displayName: identity.displayName, ...(role ? { role } : {}) });
}
