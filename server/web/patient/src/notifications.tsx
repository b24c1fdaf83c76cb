/**
 * Live notifications over server-sent events. EventSource cannot send a bearer token, so the stream
 * is read with fetch; it reconnects with a growing pause when the connection drops.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { NotificationView } from '../../shared/src/api-types.ts';
import { Button, Section } from '../../shared/src/ui.tsx';

export interface NotificationFeed {
  readonly items: readonly NotificationView[];
  readonly unseen: number;
  readonly connected: boolean;
  markSeen(): void;
}

/** Ids already seen by this person in this browser (the stream replays recent history on every connection). */
function seenStore(address: string) {
  const key = `medrec.patient.seen.${address}`;
  return {
    read: (): Set<string> => new Set(JSON.parse(localStorage.getItem(key) ?? '[]') as string[]),
    write: (ids: Iterable<string>) => localStorage.setItem(key, JSON.stringify([...ids].slice(-500))),
  };
}

export function useNotifications(token: string, address: string, onChange: () => void): NotificationFeed {
  const [items, setItems] = useState<NotificationView[]>([]);
  const store = seenStore(address);
  const [seen, setSeen] = useState<Set<string>>(() => store.read());
  const [connected, setConnected] = useState(false);
  const changed = useRef(onChange);
  changed.current = onChange;
  useEffect(() => {
    const abort = new AbortController();
    let pause = 1000;
    const connect = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          const response = await fetch('/web/api/patient/events', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: abort.signal });
          if (response.status === 401 || !response.body) return;
          setConnected(true);
          pause = 1000;
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
              if (!data) continue;
              const item = JSON.parse(data) as NotificationView;
              setItems((prev) => (prev.some((p) => p.id === item.id) ? prev : [item, ...prev].slice(0, 200)));
              if (item.kind !== 'access') changed.current();
            }
          }
        } catch {
          if (abort.signal.aborted) return;
        }
        setConnected(false);
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 30_000);
      }
    };
    void connect();
    return () => abort.abort();
  }, [token]);
  return {
    items,
    unseen: items.filter((n) => !seen.has(n.id)).length,
    connected,
    markSeen: () => {
      if (items.every((n) => seen.has(n.id))) return;
      const next = new Set([...seen, ...items.map((n) => n.id)]);
      store.write(next);
      setSeen(next);
    },
  };
}

const LABELS: Record<NotificationView['kind'], string> = {
  'record-change': 'New records',
  'study-invitation': 'Study invitation',
  'access-request': 'Access request',
  'grant-expiring': 'Expiring soon',
  'grant-change': 'Access changed',
  access: 'Someone read your records',
};

export function Notifications({ feed, pendingRequests }: { feed: NotificationFeed; pendingRequests: number }) {
  useEffect(() => { feed.markSeen(); }, [feed.items.length]);
  return (
    <Section title="Notifications" intro="New records at your providers, invitations, requests and access that is about to end. This list updates by itself.">
      <p class="muted" role="status">{feed.connected ? 'Live: new notifications appear here as they happen.' : 'Connecting to live updates…'}</p>
      {feed.items.length === 0 ? <p class="muted">Nothing new yet.</p> : (
        <ul class="list" aria-live="polite">
          {feed.items.map((n) => (
            <li key={n.id}>
              <span><span class="pill">{LABELS[n.kind]}</span> {n.text}</span>
              <span class="muted">{new Date(n.at).toLocaleString()}</span>
            </li>
          ))}
        </ul>
      )}
      {pendingRequests > 0 && <Button onClick={() => location.assign('#requests')}>{`Go to requests (${pendingRequests} waiting)`}</Button>}
    </Section>
  );
}
