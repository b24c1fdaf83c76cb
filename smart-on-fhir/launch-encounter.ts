/**
 * An EHR launch's encounter, resolved through the FHIR layer with the launching user's own access
 * (scopes ∩ on-chain grants, like any read of theirs): a launch may only put into an app's token
 * an encounter that user may see and whose subject is the launch patient. The read is a direct
 * call with the access context the launch stands for (the user, through the launching client,
 * reading Encounters), so it is decided and audited as that user's read.
 */
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { AccessContext } from '../server/access/access-context.ts';
import { FhirHttpError } from '../server/fhir/outcomes.ts';
import { parseResourceScope } from './scopes.ts';
import type { SmartContext } from './smart-context.ts';

export type EncounterCheck = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 503; readonly reason: string };

const ENCOUNTER_READ = parseResourceScope('user/Encounter.r');
const UNAVAILABLE: EncounterCheck = { ok: false, status: 503, reason: 'The encounter cannot be checked right now. Try again shortly.' };
// Unknown, not visible to the user, or another patient's: one answer, so nothing leaks.
const REFUSED: EncounterCheck = { ok: false, status: 400, reason: 'No such encounter of this patient is open to you.' };

export async function checkLaunchEncounter(
  ctx: SmartContext,
  input: { readonly user: string; readonly clientId: string; readonly patient: string; readonly encounter: string },
): Promise<EncounterCheck> {
  const fhir = ctx.options.fhir;
  // Without a FHIR layer no encounter can be shown to anyone.
  if (!fhir || !ENCOUNTER_READ) return REFUSED;
  const access: AccessContext = { clientId: input.clientId, subject: input.user, scopes: [ENCOUNTER_READ] };
  let subject: string | undefined;
  try {
    subject = ((await fhir.read('Encounter', input.encounter, { access })) as { subject?: { reference?: string } }).subject?.reference;
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    const status = err instanceof FhirHttpError ? err.status : getStatus(err.outcome);
    return status >= 500 ? UNAVAILABLE : REFUSED;
  }
  return subject === `Patient/${input.patient}` ? { ok: true } : REFUSED;
}
