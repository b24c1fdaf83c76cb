/** My network: the providers holding my records and everyone who can see them, as a picture and a list. */
import { useState } from 'preact/hooks';
import type { GrantView, PatientNetwork } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Section, shortAddress, useAction, type ActionControl } from '../../shared/src/ui.tsx';
import { grantSummary } from './grant-text.ts';
import { NetworkPicture } from './network-picture.tsx';
import type { Signer } from '../../shared/src/wallet.ts';
import { signAndRelay } from './actions.ts';

/** Id of the notice that says why changes cannot be signed (no wallet in this browser). */
export const NO_SIGNER_NOTE = 'no-wallet-note';

export interface PatientScreenProps {
  readonly network: PatientNetwork;
  readonly signer: Signer | undefined;
  readonly me: string;
  /** Settles once the network is read again. */
  readonly reload: () => Promise<void>;
}

/** `working`: the grant an action is running for (one at a time; only its button says so). */
function GrantRow({ grant, props, action, working, setWorking }: { grant: GrantView; props: PatientScreenProps; action: ActionControl; working: string | undefined; setWorking: (id: string) => void }) {
  const revoke = () => {
    if (!props.signer) return;
    const signer = props.signer;
    setWorking(grant.id);
    void action.run('Preparing…', async (progress) => {
      const params = grant.kind === 'delegation'
        ? { action: 'undelegate' as const, id: grant.id }
        : grant.kind === 'study'
          ? { action: 'withdraw' as const, id: grant.id }
          : { action: 'revoke' as const, id: grant.id };
      const outcome = await signAndRelay(params, signer, props.me, progress);
      await props.reload();
      return `${grant.grantee.name} can no longer see these records (block ${outcome.blockNumber}).`;
    });
  };
  const verb = grant.kind === 'study' ? 'Leave study' : 'Revoke';
  return (
    <li>
      <div>
        <strong>{grant.grantee.name}</strong> <span class="pill">{grant.kind === 'delegation' ? 'proxy' : grant.grantee.role}</span>
        <div class="muted">{grantSummary(grant, props.network.providers)}</div>
      </div>
      {grant.active && (
        <Button kind="danger" onClick={revoke} disabled={!props.signer || action.state.phase === 'working'} describedBy={props.signer ? undefined : NO_SIGNER_NOTE} label={`${verb}: ${grant.grantee.name}`}>
          {action.state.phase === 'working' && working === grant.id ? 'Working…' : verb}
        </Button>
      )}
    </li>
  );
}

export function NetworkScreen(props: PatientScreenProps) {
  const { network } = props;
  const active = network.grants.filter((g) => g.active);
  const action = useAction();
  const [working, setWorking] = useState<string>();
  return (
    <>
      <Section title="My network" intro="Everyone who holds or can read your records. You can change any of it at any time.">
        <NetworkPicture network={network} />
      </Section>
      <Section title="Providers holding my records" id="providers">
        {network.providers.length === 0 ? <p class="muted">No provider has linked records to you yet.</p> : (
          <ul class="list">
            {network.providers.map((p) => (
              <li key={p.address}><span><strong>{p.name}</strong> <span class="muted">{shortAddress(p.address)}</span></span></li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Who can see my records" id="grants">
        {active.length === 0 ? <p class="muted">Nobody else can see your records. Use “Share” to let someone in.</p> : (
          <ul class="list">{active.map((g) => <GrantRow key={g.id} grant={g} props={props} action={action} working={working} setWorking={setWorking} />)}</ul>
        )}
        <ActionStatus state={action.state} />
      </Section>
    </>
  );
}
