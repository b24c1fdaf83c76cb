/** Sources: each adapter's health, lag, errors and dead letters; queue depths. */
import { api } from '../../shared/src/api.ts';
import type { SourceStatusView } from '../../shared/src/api-types.ts';
import { Button, Loading, Problem, Section, useLoad } from '../../shared/src/ui.tsx';

/** Failed and timed-out calls out of all the FHIR layer made since the server started. */
function FailedCalls({ source: s }: { source: SourceStatusView }) {
  if (s.calls === undefined) return <span class="muted">not reported</span>;
  if (s.calls === 0) return <span class="muted">no calls yet</span>;
  const failed = (s.errors ?? 0) + (s.timeouts ?? 0);
  return (
    <span>
      <span class={`pill ${failed ? 'bad' : 'ok'}`}>{failed ? `${s.errors ?? 0} errors, ${s.timeouts ?? 0} timed out` : 'none'}</span>
      <span class="muted"> of {s.calls} since start</span>
    </span>
  );
}

function lagText(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
}

export function Sources() {
  const data = useLoad(() => api<{ sources: SourceStatusView[] }>('/web/api/provider/sources'), []);
  return (
    <Section title="Data sources" intro="Where this node reads your records from, and how each source is doing. Failed calls count since the server started; each one left that source's records out of an answer.">
      <div class="row"><Button onClick={data.reload} label="Refresh source status">Refresh</Button></div>
      {data.error && <Problem error={data.error} retry={data.reload} />}
      {data.loading && !data.data && <Loading what="source status" />}
      {data.data && (
        <div class="table-wrap">
          <table class="stacked">
            <caption class="visually-hidden">Source status</caption>
            <thead><tr><th scope="col">Source</th><th scope="col">Health</th><th scope="col">Lag</th><th scope="col">Failed calls</th><th scope="col">Dead letters</th><th scope="col">Queue</th></tr></thead>
            <tbody>
              {data.data.sources.map((s) => (
                <tr key={s.id}>
                  <td class="first"><span><strong>{s.id}</strong> <span class="muted">{s.kind} · {s.provider}</span></span></td>
                  <td data-label="Health"><span><span class={`pill ${s.healthy ? 'ok' : 'bad'}`}>{s.healthy ? 'healthy' : 'unhealthy'}</span>{s.detail && <span class="muted"> {s.detail}</span>}</span></td>
                  <td data-label="Lag">{s.lagSeconds === undefined ? '—' : lagText(s.lagSeconds)}</td>
                  <td data-label="Failed calls"><FailedCalls source={s} /></td>
                  <td data-label="Dead letters">{s.deadLetters ?? <span class="muted">not reported</span>}</td>
                  <td data-label="Queue">{s.queue ? `${s.queue.waiting} waiting` : <span class="muted">none: queried live</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
