/**
 * A token for the demo pharmacy (SMART Backend Services with its PUBLISHED demo key), so a
 * newcomer can try the FHIR API with curl right after `npm start`:
 *
 *   TOKEN=$(npm run -s demo-token)            # or: node server/embedded/demo-pharmacy-token.ts http://localhost:8080
 *   curl -H "Authorization: Bearer $TOKEN" 'http://localhost:8080/fhir/MedicationRequest?patient=<alice>'
 *
 * The seeded chain grants the pharmacy every MedicationRequest of the demo patients.
 */
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { DEMO_PHARMACY_PRIVATE_JWK } from '../../smart-on-fhir/demo-clients.ts';

export const DEMO_PHARMACY_CLIENT_ID = 'medrec-demo-pharmacy-backend';

/** Runs discovery and the client_credentials grant against a running server; returns the access token. */
export async function demoPharmacyToken(baseUrl: string, scope = 'system/MedicationRequest.rs system/Medication.rs system/Patient.r'): Promise<string> {
  const discovery = await fetch(`${baseUrl}/fhir/.well-known/smart-configuration`);
  if (!discovery.ok) throw new Error(`SMART discovery at ${baseUrl} answered ${discovery.status}`);
  const { token_endpoint: tokenEndpoint } = (await discovery.json()) as { token_endpoint: string };
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: DEMO_PHARMACY_PRIVATE_JWK.kid as string, typ: 'JWT' })
    .setIssuer(DEMO_PHARMACY_CLIENT_ID)
    .setSubject(DEMO_PHARMACY_CLIENT_ID)
    .setAudience(tokenEndpoint)
    .setIssuedAt()
    .setExpirationTime('4m')
    .sign(await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384'));
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`token request refused: ${body.error ?? res.status} ${body.error_description ?? ''}`);
  return body.access_token;
}

if (import.meta.main) {
  const base = (process.argv[2] ?? `http://localhost:${process.env.PORT ?? 8080}`).replace(/\/$/, '');
  try {
    console.log(await demoPharmacyToken(base));
  } catch (err) {
    console.error(`demo-token: ${(err as Error).message}`);
    process.exit(1);
  }
}
