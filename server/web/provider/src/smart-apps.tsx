/** SMART: registered clients, and launching one for a patient (EHR launch). */
import { useState } from 'preact/hooks';
import { api } from '../../shared/src/api.ts';
import type { LinkedPatientView, ProviderPatients, SmartClientView } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Loading, Problem, Section, useAction, useLoad } from '../../shared/src/ui.tsx';

export function SmartApps() {
  const clients = useLoad(() => api<{ clients: SmartClientView[] }>('/web/api/provider/smart/clients'), []);
  const patients = useLoad(() => api<ProviderPatients>('/web/api/provider/patients'), []);
  const launchable = clients.data?.clients.filter((c) => c.launchUrl) ?? [];
  const linked: readonly LinkedPatientView[] = patients.data?.patients.filter((p) => p.active) ?? [];
  const [clientId, setClientId] = useState('');
  const [patient, setPatient] = useState('');
  const action = useAction();
  const launch = () => void action.run('Creating the launch…', async () => {
    const chosen = clientId || launchable[0]?.clientId || '';
    const { url } = await api<{ url: string }>('/web/api/provider/smart/launch', { body: { clientId: chosen, patient: patient || linked[0]?.address } });
    window.open(url, '_blank', 'noopener');
    return 'The app opened in a new tab with this patient in context.';
  });
  return (
    <>
      <Section title="Launch an app for a patient" id="launch" intro="Opens a registered SMART app with the patient already chosen (EHR launch).">
        {(clients.error ?? patients.error) && <Problem error={(clients.error ?? patients.error)!} retry={() => { clients.reload(); patients.reload(); }} />}
        <form onSubmit={(e) => { e.preventDefault(); launch(); }}>
          <div class="grid">
            <div>
              <label for="launch-app">App</label>
              <select id="launch-app" value={clientId} onChange={(e) => setClientId((e.target as HTMLSelectElement).value)}>
                {launchable.map((c) => <option key={c.clientId} value={c.clientId}>{c.name}</option>)}
              </select>
            </div>
            <div>
              <label for="launch-patient">Patient</label>
              <select id="launch-patient" value={patient} onChange={(e) => setPatient((e.target as HTMLSelectElement).value)}>
                {linked.map((p) => <option key={p.address} value={p.address}>{p.name}</option>)}
              </select>
            </div>
          </div>
          <p><Button type="submit" kind="primary" onClick={() => undefined} disabled={action.state.phase === 'working' || launchable.length === 0 || linked.length === 0}>Launch app</Button></p>
        </form>
        <ActionStatus state={action.state} />
      </Section>
      <Section title="Registered SMART clients" id="clients">
        {clients.loading && !clients.data && <Loading what="clients" />}
        {clients.data && (
          <ul class="list">
            {clients.data.clients.map((c) => (
              <li key={c.clientId}>
                <span><strong>{c.name}</strong> <span class="pill">{c.type}</span> <span class="muted">{c.clientId}</span><div class="muted">Scopes: {c.scopes}</div></span>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </>
  );
}
