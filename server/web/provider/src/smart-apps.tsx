/** SMART: registered clients, and launching one for a patient (EHR launch). */
import { useState } from 'preact/hooks';
import { api } from '../../shared/src/api.ts';
import type { LinkedPatientView, ProviderPatients, SmartClientView } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Loading, Problem, Section, useAction, useLoad } from '../../shared/src/ui.tsx';

/** The origin an app runs at, when it is not this server (its launch may find nothing there). */
function elsewhere(client: SmartClientView): string | undefined {
  const origin = client.launchUrl ? new URL(client.launchUrl, location.href).origin : undefined;
  return origin && origin !== location.origin ? origin : undefined;
}

export function SmartApps() {
  const clients = useLoad(() => api<{ clients: SmartClientView[] }>('/web/api/provider/smart/clients'), []);
  const patients = useLoad(() => api<ProviderPatients>('/web/api/provider/patients'), []);
  // Apps this server serves first: they are the ones sure to answer.
  const launchable = (clients.data?.clients.filter((c) => c.launchUrl) ?? []).sort((a, b) => Number(!!elsewhere(a)) - Number(!!elsewhere(b)));
  const linked: readonly LinkedPatientView[] = patients.data?.patients.filter((p) => p.active) ?? [];
  const [clientId, setClientId] = useState('');
  const [patientAddress, setPatient] = useState('');
  // What the selects show is what a launch uses: the first option until someone picks another.
  const app = launchable.find((c) => c.clientId === clientId) ?? launchable[0];
  const patient = linked.find((p) => p.address === patientAddress) ?? linked[0];
  const [blocked, setBlocked] = useState<{ url: string; name: string }>();
  const action = useAction();
  const launch = () => {
    if (!app || !patient) return;
    setBlocked(undefined);
    // Opened now, while the click still counts as the user's: a tab opened after the network call
    // is often blocked. It gets the app's address once the launch exists.
    const tab = window.open('', '_blank');
    if (tab) tab.opener = null;
    void action.run('Creating the launch…', async () => {
      let url: string;
      try {
        ({ url } = await api<{ url: string }>('/web/api/provider/smart/launch', { body: { clientId: app.clientId, patient: patient.address } }));
      } catch (error) {
        tab?.close();
        throw error;
      }
      if (!tab) {
        setBlocked({ url, name: app.name });
        return `The launch is ready, but your browser blocked the new tab. Use “Open ${app.name}” below.`;
      }
      tab.location.href = url;
      const origin = elsewhere(app);
      return origin
        ? `Sent ${app.name} its launch for ${patient.name} in a new tab. It runs at ${origin}, outside this server: if that tab cannot connect, start the app there and launch again.`
        : `${app.name} opened in a new tab with ${patient.name} in context. Continue there (sign in and allow access if it asks).`;
    });
  };
  return (
    <>
      <Section title="Launch an app for a patient" id="launch" intro="Opens a registered SMART app with the patient already chosen (EHR launch).">
        {(clients.error ?? patients.error) && <Problem error={(clients.error ?? patients.error)!} retry={() => { void clients.reload(); void patients.reload(); }} />}
        {clients.data && launchable.length === 0 && <p class="muted">No registered app has a launch URL, so none can be launched from here.</p>}
        {patients.data && linked.length === 0 && <p class="muted">No linked patients yet: link one under “Patients” first.</p>}
        <form onSubmit={(e) => { e.preventDefault(); launch(); }}>
          <div class="grid">
            <div>
              <label for="launch-app">App</label>
              <select id="launch-app" value={app?.clientId ?? ''} onChange={(e) => setClientId((e.target as HTMLSelectElement).value)}>
                {launchable.map((c) => {
                  const origin = elsewhere(c);
                  return <option key={c.clientId} value={c.clientId}>{origin ? `${c.name} (runs at ${origin})` : c.name}</option>;
                })}
              </select>
            </div>
            <div>
              <label for="launch-patient">Patient</label>
              <select id="launch-patient" value={patient?.address ?? ''} onChange={(e) => setPatient((e.target as HTMLSelectElement).value)}>
                {linked.map((p) => <option key={p.address} value={p.address}>{p.name}</option>)}
              </select>
            </div>
          </div>
          <p><Button type="submit" kind="primary" onClick={() => undefined} disabled={action.state.phase === 'working' || !app || !patient}>Launch app</Button></p>
        </form>
        <ActionStatus state={action.state} />
        {blocked && <p><a class="btn btn-primary" href={blocked.url} target="_blank" rel="noopener">Open {blocked.name}</a></p>}
      </Section>
      <Section title="Registered SMART clients" id="clients">
        {clients.loading && !clients.data && <Loading what="clients" />}
        {clients.data && (
          <ul class="list">
            {clients.data.clients.map((c) => (
              <li key={c.clientId}>
                <span>
                  <strong>{c.name}</strong> <span class="pill">{c.type}</span> <span class="muted">{c.clientId}</span>
                  <div class="muted">Scopes: {c.scopes}</div>
                  {c.launchUrl && <div class="muted">Launch URL: {c.launchUrl}</div>}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </>
  );
}
