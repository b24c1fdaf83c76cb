/** Network membership: current providers, open motions, propose, vote, rescind. */
import { useState } from 'preact/hooks';
import { api } from '../../shared/src/api.ts';
import type { ProposalView, ProviderNetwork, RelayOutcome } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Section, shortAddress, useAction, type ActionControl } from '../../shared/src/ui.tsx';

/** `action` belongs to the list, not the row: a motion that passes leaves the list, its outcome must stay. */
function ProposalRow({ proposal, me, providers, reload, action }: { proposal: ProposalView; me: string; providers: ProviderNetwork['providers']; reload: () => Promise<void>; action: ActionControl }) {
  const voted = proposal.votes.includes(me);
  const mine = proposal.proposer === me;
  const name = (a: string) => providers.find((p) => p.address === a)?.name ?? shortAddress(a);
  const act = (verb: 'vote' | 'rescind') => void action.run(verb === 'vote' ? 'Sending your vote…' : 'Rescinding…', async () => {
    const outcome = await api<RelayOutcome>(`/web/api/provider/proposals/${encodeURIComponent(proposal.id)}/${verb}`, { method: 'POST', body: {} });
    await reload();
    return `${outcome.summary} (block ${outcome.blockNumber}).`;
  });
  return (
    <li>
      <div>
        <strong>{proposal.kind === 'admit' ? 'Admit' : 'Remove'} {proposal.candidate.name}</strong>{' '}
        <span class="muted">{shortAddress(proposal.candidate.address)}</span>
        <div class="muted">
          {proposal.votes.length} of {proposal.needed} votes needed{proposal.votes.length ? `: ${proposal.votes.map(name).join(', ')}` : ''}. Proposed by {name(proposal.proposer)}.
        </div>
      </div>
      <div class="row">
        {!voted && proposal.candidate.address !== me && (
          <Button kind="primary" onClick={() => act('vote')} disabled={action.state.phase === 'working'} label={`Vote yes: ${proposal.kind} ${proposal.candidate.name}`}>Vote yes</Button>
        )}
        {voted && <span class="pill ok">You voted</span>}
        {mine && <Button kind="danger" onClick={() => act('rescind')} disabled={action.state.phase === 'working'} label={`Rescind proposal for ${proposal.candidate.name}`}>Rescind</Button>}
      </div>
    </li>
  );
}

export function Membership({ network, reload }: { network: ProviderNetwork; reload: () => Promise<void> }) {
  const [name, setName] = useState('');
  const [address, setAddress] = useState('');
  const [fhirBase, setFhirBase] = useState('');
  const action = useAction();
  const motionAction = useAction();
  const open = network.proposals.filter((p) => p.open);
  const propose = () => void action.run('Sending the proposal…', async () => {
    const outcome = await api<RelayOutcome>('/web/api/provider/proposals', { body: { name, address, fhirBase } });
    await reload();
    setName(''); setAddress(''); setFhirBase('');
    return `${outcome.summary} Other providers can vote on it now (block ${outcome.blockNumber}).`;
  });
  // Removing a provider is weighty: asked once more, with its outcome under the list it changes.
  const [confirming, setConfirming] = useState<string>();
  const removalAction = useAction();
  const removal = (provider: { address: string; name: string }) => void removalAction.run(`Proposing the removal of ${provider.name}…`, async () => {
    setConfirming(undefined);
    const outcome = await api<RelayOutcome>('/web/api/provider/proposals', { body: { remove: provider.address } });
    await reload();
    return `${outcome.summary} The other providers can vote on removing ${provider.name} under “Open proposals” (block ${outcome.blockNumber}).`;
  });
  return (
    <>
      <Section title="Providers in the network" id="providers" intro={`A motion passes with more than half of the ${network.providers.length} current providers.`}>
        <ul class="list">
          {network.providers.map((p) => (
            <li key={p.address}>
              <span><strong>{p.name}</strong> {p.address === network.me.address && <span class="pill ok">you</span>} <span class="muted">{shortAddress(p.address)} {p.fhirBase}</span></span>
              {p.address !== network.me.address && confirming !== p.address && (
                <Button onClick={() => { removalAction.reset(); setConfirming(p.address); }} disabled={removalAction.state.phase === 'working'} label={`Propose removal of ${p.name}`}>Propose removal</Button>
              )}
              {confirming === p.address && (
                <div class="confirm" role="group" aria-label={`Confirm the removal of ${p.name}`}>
                  <p>Propose removing <strong>{p.name}</strong> from the network? It leaves if more than half of the providers vote yes; its patients' records stop being served.</p>
                  <div class="row">
                    <Button kind="danger" onClick={() => removal(p)} label={`Yes, propose removal of ${p.name}`}>Yes, propose removal</Button>
                    <Button onClick={() => setConfirming(undefined)}>Cancel</Button>
                  </div>
                </div>
              )}
            </li>
          ))}
        </ul>
        <ActionStatus state={removalAction.state} />
      </Section>
      <Section title="Open proposals" id="proposals">
        {open.length === 0 ? <p class="muted">No open proposals.</p> : (
          <ul class="list">{open.map((p) => <ProposalRow key={p.id} proposal={p} me={network.me.address} providers={network.providers} reload={reload} action={motionAction} />)}</ul>
        )}
        <ActionStatus state={motionAction.state} />
      </Section>
      <Section title="Propose a new provider" id="propose">
        <form onSubmit={(e) => { e.preventDefault(); propose(); }}>
          <div class="grid">
            <div><label for="candidate-name">Organisation name (public)</label><input id="candidate-name" value={name} required maxLength={80} onInput={(e) => setName((e.target as HTMLInputElement).value)} /></div>
            <div><label for="candidate-address">Its provider address</label><input id="candidate-address" value={address} required pattern="0x[0-9a-fA-F]{40}" placeholder="0x…" onInput={(e) => setAddress((e.target as HTMLInputElement).value)} /></div>
            <div><label for="candidate-fhir">Its FHIR base URL</label><input id="candidate-fhir" type="url" value={fhirBase} required placeholder="https://…/fhir" onInput={(e) => setFhirBase((e.target as HTMLInputElement).value)} /></div>
          </div>
          <p><Button type="submit" kind="primary" onClick={() => undefined} disabled={action.state.phase === 'working'}>Propose</Button></p>
        </form>
        <ActionStatus state={action.state} />
      </Section>
    </>
  );
}
