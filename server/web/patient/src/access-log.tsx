/** Who read what: my access log from the server's AuditEvents, filterable. */
import { useState } from 'preact/hooks';
import { api } from '../../shared/src/api.ts';
import type { AccessLogEntry, PatientNetwork } from '../../shared/src/api-types.ts';
import { RECORD_TYPES, recordTypeLabel } from '../../shared/src/fhir-display.ts';
import { Button, Loading, Problem, Section, useLoad } from '../../shared/src/ui.tsx';

export function AccessLog({ network }: { network: PatientNetwork }) {
  const [who, setWho] = useState('');
  const [type, setType] = useState('');
  const [outcome, setOutcome] = useState('');
  const query = new URLSearchParams();
  if (who) query.set('who', who);
  if (type) query.set('type', type);
  if (outcome) query.set('outcome', outcome);
  // My own reads (this app, My records) would drown the others: shown when asked for.
  const [mine, setMine] = useState(false);
  const log = useLoad(() => api<{ entries: AccessLogEntry[] }>(`/web/api/patient/access-log?${query}`), [who, type, outcome]);
  const me = network.me.address;
  const entries = log.data?.entries.filter((e) => mine || who === me || e.who.address !== me);
  const hiddenMine = (log.data?.entries.length ?? 0) - (entries?.length ?? 0);
  const people = network.grants.map((g) => g.grantee);
  const types = [...RECORD_TYPES, 'Patient'];
  return (
    <Section title="Who read what" intro="Every time someone opened or searched your records, allowed or refused.">
      <form class="grid" onSubmit={(e) => e.preventDefault()} aria-label="Filter the access log">
        <div>
          <label for="log-who">Who</label>
          <select id="log-who" value={who} onChange={(e) => setWho((e.target as HTMLSelectElement).value)}>
            <option value="">Anyone</option>
            <option value={network.me.address}>Me</option>
            {people.filter((p, i) => people.findIndex((q) => q.address === p.address) === i).map((p) => <option key={p.address} value={p.address}>{p.name}</option>)}
          </select>
        </div>
        <div>
          <label for="log-type">Record type</label>
          <select id="log-type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">Any type</option>
            {types.map((t) => <option key={t} value={t}>{recordTypeLabel(t)}</option>)}
          </select>
        </div>
        <div>
          <label for="log-outcome">Outcome</label>
          <select id="log-outcome" value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
            <option value="">Allowed or refused</option>
            <option value="allowed">Allowed</option>
            <option value="refused">Refused</option>
          </select>
        </div>
        <div class="checkbox">
          <label><input type="checkbox" checked={mine} onChange={(e) => setMine((e.target as HTMLInputElement).checked)} /> Include my own reads</label>
        </div>
      </form>
      <div class="row"><Button onClick={log.reload} label="Refresh the access log">Refresh</Button></div>
      {log.error && <Problem error={log.error} retry={log.reload} />}
      {log.loading && !log.data && <Loading what="your access log" />}
      {hiddenMine > 0 && <p class="muted">{hiddenMine} of your own reads are not shown (tick “Include my own reads”).</p>}
      {entries && (entries.length === 0 ? <p class="muted">Nobody matching these filters has read your records.</p> : (
        <div class="table-wrap">
          <table class="stacked">
            <caption class="visually-hidden">Accesses to my records, newest first</caption>
            <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Outcome</th><th scope="col">From</th></tr></thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td data-label="When">{new Date(e.recorded).toLocaleString()}</td>
                  <td data-label="Who"><span>{e.who.name}{e.purpose ? <span class="muted"> for {e.purpose}</span> : null}</span></td>
                  <td data-label="What">{e.action} {recordTypeLabel(e.resourceType).toLowerCase()}</td>
                  {/* On a phone the outcome leads each card: it is what the reader looks for. */}
                  <td class="first"><span class={`pill ${e.outcome === 'allowed' ? 'ok' : 'bad'}`}>{e.outcome}</span></td>
                  <td data-label="From">{e.sources.join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </Section>
  );
}
