/** Sources: each adapter's health, lag, errors and dead letters; queue depths. */
import { api } from '../../shared/src/api.ts';
import type { SourceStatusView } from '../../shared/src/api-types.ts';
import { Button, Loading, Problem, Section, useLoad } from '../../shared/src/ui.tsx';

export function Sources() {
  const data = useLoad(() => api<{ sources: SourceStatusView[] }>('/web/api/provider/sources'), []);
  return (
    <Section title="Data sources" intro="Where this node reads your records from, and how each source is doing.">
      <div class="row"><Button onClick={data.reload} label="Refresh source status">Refresh</Button></div>
      {data.error && <Problem error={data.error} retry={data.reload} />}
      {data.loading && !data.data && <Loading what="source status" />}
      {data.data && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Source status</caption>
            <thead><tr><th scope="col">Source</th><th scope="col">Health</th><th scope="col">Lag</th><th scope="col">Errors</th><th scope="col">Dead letters</th><th scope="col">Queue</th></tr></thead>
            <tbody>
              {data.data.sources.map((s) => (
                <tr key={s.id}>
                  <td><strong>{s.id}</strong><div class="muted">{s.kind} · {s.provider}</div></td>
                  <td><span class={`pill ${s.healthy ? 'ok' : 'bad'}`}>{s.healthy ? 'healthy' : 'unhealthy'}</span>{s.detail && <div class="muted">{s.detail}</div>}</td>
                  <td>{s.lagSeconds === undefined ? '—' : `${s.lagSeconds.toFixed(1)} s`}</td>
                  <td>{s.errors ?? <span class="muted">not reported</span>}</td>
                  <td>{s.deadLetters ?? <span class="muted">not reported</span>}</td>
                  <td>{s.queue ? `${s.queue.waiting} waiting, ${s.queue.active} active, ${s.queue.failed} failed` : <span class="muted">no queue (read in-process)</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
