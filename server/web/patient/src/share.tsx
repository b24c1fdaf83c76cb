/** Grant in a few clicks: pick who, what and for how long; sign; done. */
import { useState } from 'preact/hooks';
import type { GrantParams, PatientActionParams, ParticipantView } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Section, describeTypes, useAction } from '../../shared/src/ui.tsx';
import { signAndRelay } from './actions.ts';
import { NO_SIGNER_NOTE, type PatientScreenProps } from './network.tsx';

type Kind = 'clinician' | 'proxy' | 'pharmacy' | 'study';

const KINDS: ReadonlyArray<readonly [Kind, string, string]> = [
  ['clinician', 'A clinician or organisation', 'All your records, at one provider or everywhere.'],
  ['pharmacy', 'A pharmacy', 'Your prescriptions from every provider.'],
  ['proxy', 'A healthcare proxy', 'Someone who can act for you, including managing access.'],
  ['study', 'A research study', 'A study that invited you; research use only.'],
];

const PURPOSES = ['treatment', 'payment', 'operations', 'research'] as const;

function daysFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

function toUnix(date: string): number {
  return date ? Math.floor(new Date(`${date}T23:59:59Z`).getTime() / 1000) : 0;
}

export function Share(props: PatientScreenProps) {
  const { network } = props;
  const [kind, setKind] = useState<Kind>('clinician');
  const roles: Record<Kind, readonly string[]> = {
    clinician: ['clinician', 'organisation', 'provider', 'researcher'],
    pharmacy: ['pharmacy'],
    proxy: ['proxy', 'clinician', 'patient'],
    study: [],
  };
  const candidates: readonly ParticipantView[] = network.directory.filter((p) => roles[kind].includes(p.role) && p.address !== props.me);
  const [grantee, setGrantee] = useState('');
  const [where, setWhere] = useState('*');
  const [purpose, setPurpose] = useState<string>('treatment');
  const [until, setUntil] = useState(daysFromNow(90));
  const action = useAction();
  const chosen = candidates.find((c) => c.address === grantee) ?? candidates[0];
  const invited = network.studies.filter((s) => s.status === 'invited');

  const submit = (params: PatientActionParams, doneText: string) => {
    if (!props.signer) return;
    const signer = props.signer;
    void action.run('Preparing…', async (progress) => {
      const outcome = await signAndRelay(params, signer, props.me, progress);
      await props.reload();
      return `${doneText} It took effect in block ${outcome.blockNumber}; see it under “My network”.`;
    });
  };

  const share = () => {
    if (!chosen) return;
    if (kind === 'proxy') {
      submit({ action: 'delegate', proxy: chosen.address, expiresAt: toUnix(until) }, `${chosen.name} is now your healthcare proxy.`);
      return;
    }
    const grant: GrantParams = {
      grantee: chosen.address,
      providers: kind === 'pharmacy' ? '*' : where === '*' ? '*' : [where],
      resourceTypes: kind === 'pharmacy' ? ['MedicationRequest', 'MedicationDispense', 'MedicationStatement', 'Medication'] : '*',
      purpose: kind === 'pharmacy' ? 'treatment' : purpose,
      expiresAt: toUnix(until),
    };
    submit({ action: 'grant', grant }, `${chosen.name} can now see ${describeTypes(kind === 'pharmacy' ? ['MedicationRequest'] : '*')}.`);
  };

  return (
    <Section title="Share my records" intro="Choose who, what and for how long. You sign it; we send it for you, free.">
      <fieldset>
        <legend>Who do you want to share with?</legend>
        {KINDS.map(([id, label, hint]) => (
          <label key={id}>
            <input type="radio" name="kind" value={id} checked={kind === id} onChange={() => { setKind(id); setGrantee(''); action.reset(); }} />
            <span><strong>{label}</strong> <span class="muted">{hint}</span></span>
          </label>
        ))}
      </fieldset>

      {kind === 'study' ? (
        invited.length === 0 ? <p class="muted">No study has invited you right now. Invitations show up in Notifications.</p> : (
          <ul class="list">
            {invited.map((s) => (
              <li key={s.id}>
                <span><strong>{s.title}</strong> <span class="muted">by {s.researcher.name}; reads {describeTypes(s.resourceTypes)} for research only</span></span>
                <Button kind="primary" disabled={!props.signer || action.state.phase === 'working'} describedBy={props.signer ? undefined : NO_SIGNER_NOTE} label={`Join study ${s.title}`}
                  onClick={() => submit({ action: 'enroll', id: s.id }, `You joined “${s.title}”.`)}>Join study</Button>
              </li>
            ))}
          </ul>
        )
      ) : (
        <form onSubmit={(e) => { e.preventDefault(); share(); }}>
          <div class="grid">
            <div>
              <label for="grantee">{kind === 'pharmacy' ? 'Pharmacy' : kind === 'proxy' ? 'Proxy' : 'Clinician or organisation'}</label>
              <select id="grantee" value={chosen?.address ?? ''} onChange={(e) => setGrantee((e.target as HTMLSelectElement).value)}>
                {candidates.length === 0 && <option value="">Nobody registered yet</option>}
                {candidates.map((c) => <option key={c.address} value={c.address}>{c.name}</option>)}
              </select>
            </div>
            {kind === 'clinician' && (
              <div>
                <label for="where">Records from</label>
                <select id="where" value={where} onChange={(e) => setWhere((e.target as HTMLSelectElement).value)}>
                  <option value="*">Every provider</option>
                  {network.providers.map((p) => <option key={p.address} value={p.address}>{p.name} only</option>)}
                </select>
              </div>
            )}
            {kind === 'clinician' && (
              <div>
                <label for="purpose">Purpose</label>
                <select id="purpose" value={purpose} onChange={(e) => setPurpose((e.target as HTMLSelectElement).value)}>
                  {PURPOSES.map((p) => <option key={p} value={p}>{p}</option>)}
                </select>
              </div>
            )}
            <div>
              <label for="until">Until</label>
              <input id="until" type="date" value={until} min={daysFromNow(1)} onChange={(e) => setUntil((e.target as HTMLInputElement).value)} />
            </div>
          </div>
          <p class="muted">
            {kind === 'pharmacy' && 'The pharmacy will see your prescriptions (medication requests) from every provider, for treatment.'}
            {kind === 'proxy' && 'A proxy can read all your records and change who has access, until the date above or until you revoke it.'}
            {kind === 'clinician' && 'They will be able to read and search the records you choose, for the purpose you pick.'}
          </p>
          <Button type="submit" kind="primary" onClick={() => undefined} disabled={!chosen || !props.signer || action.state.phase === 'working'} describedBy={props.signer ? undefined : NO_SIGNER_NOTE}>
            {action.state.phase === 'working' ? 'Working…' : 'Sign and share'}
          </Button>
        </form>
      )}
      <ActionStatus state={action.state} />
    </Section>
  );
}

export { PURPOSES };
