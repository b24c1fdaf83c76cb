/**
 * An EHR launch's encounter, resolved through the FHIR layer with the launching user's own access
 * (scopes ∩ on-chain grants, like any read of theirs): a launch may only put into an app's token
 * an encounter that user may see and whose subject is the launch patient. The read goes over the
 * app's own request pipeline with an access token of a 30-second `user/Encounter.r` grant that is
 * revoked as soon as the answer is in.
 */
import type { FastifyInstance } from 'fastify';
import type { SmartContext } from './smart-context.ts';

export type EncounterCheck = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 503; readonly reason: string };

export async function checkLaunchEncounter(
  app: FastifyInstance,
  ctx: SmartContext,
  input: { readonly user: string; readonly clientId: string; readonly patient: string; readonly encounter: string },
): Promise<EncounterCheck> {
  const grant = await ctx.store.createGrant({
    clientId: input.clientId,
    subject: input.user,
    scope: 'user/Encounter.r',
    kind: 'user',
    expiresAt: Math.floor(Date.now() / 1000) + 30,
  });
  try {
    const { token } = await ctx.tokens.issueAccessToken(grant, 30);
    const res = await app.inject({
      method: 'GET',
      url: `${new URL(ctx.endpoints.fhirBaseUrl).pathname}/Encounter/${encodeURIComponent(input.encounter)}`,
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    });
    if (res.statusCode === 503 || res.statusCode === 504) return { ok: false, status: 503, reason: 'The encounter cannot be checked right now. Try again shortly.' };
    const subject = res.statusCode === 200 ? (res.json() as { subject?: { reference?: string } }).subject?.reference : undefined;
    // Unknown, not visible to the user, or another patient's: one answer, so nothing leaks.
    if (subject !== `Patient/${input.patient}`) return { ok: false, status: 400, reason: 'No such encounter of this patient is open to you.' };
    return { ok: true };
  } finally {
    await ctx.store.revokeGrant(grant.id);
  }
}
