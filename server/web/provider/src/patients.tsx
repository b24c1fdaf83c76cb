/** Patients: link a local patient to an address (a salted commitment goes on chain), end a relationship, see grants. */
import { useState } from 'preact/hooks';
import { api } from '../../shared/src/api.ts';
import type { LinkedPatientView, ProviderPatients, RelayOutcome } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Loading, Problem, Section, describeTypes, endText, shortAddress, useAction, useLoad, type ActionControl } from '../../shared/src/ui.tsx';

/** `action` belongs to the list: a patient whose relationship ended may leave it. */
function PatientRow({ patient, reload, action }: { patient: LinkedPatientView; reload: () => Promise<void>; action: ActionControl }) {
  const end = () => void action.run('Ending the relationship…', async () => {
    const outcome = await api<RelayOutcome>(`/web/api/provider/patients/${patient.address}/end`, { method: 'POST', body: {} });
    await reload();
    return `${outcome.summary} (block ${outcome.blockNumber}).`;
  });
  return (
    <li>
      <div>
        <strong>{patient.name}</strong> <span class="muted">{shortAddress(patient.address)}</span>{' '}
        {patient.active ? <span class="pill ok">linked</span> : <span class="pill">ended</span>}
        {patient.grants.length > 0 && (
          <ul>
            {patient.grants.map((g) => <li key={g.id}>{g.grantee.name}: {describeTypes(g.resourceTypes)}, for {g.purpose}, {endText(g.expiresAt)}</li>)}
          </ul>
        )}
      </div>
      {patient.active && <Button kind="danger" onClick={end} disabled={action.state.phase === 'working'} label={`End relationship with ${patient.name}`}>End relationship</Button>}
    </li>
  );
}

export function Patients() {
  const data = useLoad(() => api<ProviderPatients>('/web/api/provider/patients'), []);
  const [source, setSource] = useState('');
  const [localId, setLocalId] = useState('');
  const [address, setAddress] = useState('');
  const action = useAction();
  const rowAction = useAction();
  // What the select shows is what a link uses: the first source until someone picks another.
  const chosenSource = data.data?.sources.includes(source) ? source : data.data?.sources[0] ?? '';
  const link = () => void action.run('Linking…', async (progress) => {
    progress('Putting the salted commitment on chain…');
    const outcome = await api<RelayOutcome>('/web/api/provider/patients/link', { body: { source: chosenSource, localId, address } });
    await data.reload();
    setLocalId(''); setAddress('');
    return `${outcome.summary} (block ${outcome.blockNumber}). Only a salted hash went on chain; the local id stays here.`;
  });
  return (
    <>
      <Section title="Link a patient" id="link" intro="Connect a patient in your records to the patient's address, so they can see and share what you hold.">
        <form onSubmit={(e) => { e.preventDefault(); link(); }}>
          <div class="grid">
            <div>
              <label for="link-source">Source</label>
              <select id="link-source" value={chosenSource} onChange={(e) => setSource((e.target as HTMLSelectElement).value)}>
                {(data.data?.sources ?? []).map((s) => <option key={s} value={s}>{s}</option>)}
              </select>
            </div>
            <div><label for="link-local">Local patient id</label><input id="link-local" value={localId} required onInput={(e) => setLocalId((e.target as HTMLInputElement).value)} /></div>
            <div><label for="link-address">Patient's address</label><input id="link-address" value={address} required pattern="0x[0-9a-fA-F]{40}" placeholder="0x…" onInput={(e) => setAddress((e.target as HTMLInputElement).value)} /></div>
          </div>
          <p><Button type="submit" kind="primary" onClick={() => undefined} disabled={action.state.phase === 'working'}>Link patient</Button></p>
        </form>
        <ActionStatus state={action.state} />
      </Section>
      <Section title="Linked patients" id="linked" intro="Patients whose records you hold, and who they have shared those records with.">
        {data.error && <Problem error={data.error} retry={data.reload} />}
        {data.loading && !data.data && <Loading what="patients" />}
        {data.data && (data.data.patients.length === 0 ? <p class="muted">No linked patients yet.</p> : (
          <ul class="list">{data.data.patients.map((p) => <PatientRow key={p.address} patient={p} reload={data.reload} action={rowAction} />)}</ul>
        ))}
        <ActionStatus state={rowAction.state} />
      </Section>
    </>
  );
}
