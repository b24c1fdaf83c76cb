/**
 * Operating the dead letters of an HL7v2 source (used by `medrec hl7 dead-letters`): list them
 * without their content, show one raw message, replay. Replaying a conversion failure puts the
 * accepted message back in the inbox (the running worker converts it again); replaying a refused
 * message runs acceptance again (after a configuration change, say) and queues it if it passes.
 * Works against the store directly, so it runs beside a live server.
 */
import { checkMessage, type AcceptanceRules } from './conversion/message-conversion.ts';
import { refusalReason } from './acknowledgement.ts';
import { parseEr7 } from './er7.ts';
import { contentHash, REUSED_CONTROL_ID } from './message-acceptance.ts';
import type { DeadLetter, Hl7Store } from './store/hl7-store.ts';

export type DeadLetterSummary = Omit<DeadLetter, 'raw'>;

export async function listDeadLetters(store: Hl7Store, options: { limit: number; includeReplayed?: boolean }): Promise<DeadLetterSummary[]> {
  const letters = await store.deadLetters(options);
  return letters.map(({ raw: _raw, ...summary }) => summary);
}

export interface ReplayResult {
  readonly id: number;
  readonly outcome: 'requeued' | 'accepted' | 'duplicate' | 'refused' | 'already-replayed' | 'not-found';
  readonly detail?: string;
}

export async function replayDeadLetter(store: Hl7Store, id: number, rules: AcceptanceRules): Promise<ReplayResult> {
  const letter = await store.deadLetter(id);
  if (!letter) return { id, outcome: 'not-found' };
  if (letter.replayedAt) return { id, outcome: 'already-replayed', detail: letter.replayOutcome ?? '' };
  if (letter.stage === 'conversion' && letter.inboxSeq !== undefined) {
    await store.requeue(letter.inboxSeq);
    await store.markReplayed(id, 'requeued for conversion');
    return { id, outcome: 'requeued' };
  }
  let refusal: string | undefined;
  let message;
  try {
    message = parseEr7(letter.raw);
    const r = checkMessage(message, rules);
    if (r) refusal = refusalReason(r);
  } catch (error) {
    refusal = error instanceof Error ? error.message : 'unreadable message';
  }
  if (refusal || !message) return { id, outcome: 'refused', detail: refusal ?? 'unreadable message' };
  const [result] = await store.accept([
    { sender: message.sender, controlId: message.controlId, raw: letter.raw, receivedAt: new Date().toISOString(), contentHash: contentHash(message) },
  ]);
  if (result?.status === 'conflict') return { id, outcome: 'refused', detail: REUSED_CONTROL_ID.text };
  const outcome = result?.status === 'duplicate' ? 'duplicate' : 'accepted';
  await store.markReplayed(id, outcome === 'accepted' ? 'accepted into the inbox' : 'duplicate of an accepted message');
  return { id, outcome };
}
