/** Access requests waiting for me: approve or decline. */
import type { AccessRequestView } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Section, describeTypes, endText, useAction, type ActionControl } from '../../shared/src/ui.tsx';
import { signAndRelay } from './actions.ts';
import { whereText } from './grant-text.ts';
import { NO_SIGNER_NOTE, type PatientScreenProps } from './network.tsx';

/** `action` belongs to the list: an answered request leaves it, its outcome must stay visible. */
function RequestRow({ request, props, action }: { request: AccessRequestView; props: PatientScreenProps; action: ActionControl }) {
  const decide = (approve: boolean) => {
    if (!props.signer) return;
    const signer = props.signer;
    void action.run('Preparing…', async (progress) => {
      await signAndRelay({ action: approve ? 'approve' : 'decline', id: request.id }, signer, props.me, progress);
      await props.reload();
      return approve ? `Approved: ${request.requester.name} can now see what they asked for.` : `Declined: ${request.requester.name} was told no.`;
    });
  };
  const busy = action.state.phase === 'working';
  return (
    <li>
      <div>
        <strong>{request.requester.name}</strong> asks to see {describeTypes(request.resourceTypes)}{' '}
        {whereText(request.providers, props.network.providers)}, for {request.purpose}, {endText(request.expiresAt)}.
      </div>
      <div class="row">
        <Button kind="primary" onClick={() => decide(true)} disabled={busy || !props.signer} describedBy={props.signer ? undefined : NO_SIGNER_NOTE} label={`Approve request from ${request.requester.name}`}>Approve</Button>
        <Button onClick={() => decide(false)} disabled={busy || !props.signer} describedBy={props.signer ? undefined : NO_SIGNER_NOTE} label={`Decline request from ${request.requester.name}`}>Decline</Button>
      </div>
    </li>
  );
}

export function Requests(props: PatientScreenProps) {
  const pending = props.network.requests.filter((r) => r.status === 'pending');
  const action = useAction();
  return (
    <Section title="Requests waiting for you" intro="Someone asked to see your records. Nothing happens until you decide.">
      {pending.length === 0 ? <p class="muted">No requests right now. You will be notified when one arrives.</p> : (
        <ul class="list">{pending.map((r) => <RequestRow key={r.id} request={r} props={props} action={action} />)}</ul>
      )}
      <ActionStatus state={action.state} />
    </Section>
  );
}
