/**
 * The few building blocks both apps share. Every action goes through `useAction`, so every button
 * shows progress while it works and leaves a clear outcome (or what to do next) in a live region
 * that screen readers announce.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from './api.ts';
import { recordTypeLabel } from './fhir-display.ts';

export type ActionState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'working'; readonly text: string }
  | { readonly phase: 'done'; readonly text: string }
  | { readonly phase: 'failed'; readonly text: string; readonly next?: string };

export interface ActionControl {
  readonly state: ActionState;
  /** Runs `work`; `progress` lets it announce its steps ("Signing…", "Relaying…"). */
  run(first: string, work: (progress: (text: string) => void) => Promise<string>): Promise<boolean>;
  reset(): void;
}

export function useAction(): ActionControl {
  const [state, setState] = useState<ActionState>({ phase: 'idle' });
  const run = useCallback(async (first: string, work: (progress: (text: string) => void) => Promise<string>) => {
    setState({ phase: 'working', text: first });
    try {
      const text = await work((t) => setState({ phase: 'working', text: t }));
      setState({ phase: 'done', text });
      return true;
    } catch (err) {
      const { text, next } = describeError(err);
      setState({ phase: 'failed', text, next });
      return false;
    }
  }, []);
  return { state, run, reset: () => setState({ phase: 'idle' }) };
}

export function ActionStatus({ state }: { state: ActionState }) {
  return (
    <div class={`status status-${state.phase}`} role="status" aria-live="polite">
      {state.phase === 'working' && <><span class="spinner" aria-hidden="true" /> {state.text}</>}
      {state.phase === 'done' && <>✓ {state.text}</>}
      {state.phase === 'failed' && (
        <>
          <strong>That did not work:</strong> {state.text}
          {state.next && <> <span class="next">{state.next}</span></>}
        </>
      )}
    </div>
  );
}

export function Button(props: {
  onClick: () => void;
  children: ComponentChildren;
  kind?: 'primary' | 'secondary' | 'danger';
  disabled?: boolean;
  label?: string;
  /** Id of the text that says why the button is disabled (or what it does). */
  describedBy?: string | undefined;
  type?: 'button' | 'submit';
}) {
  return (
    <button
      type={props.type ?? 'button'}
      class={`btn btn-${props.kind ?? 'secondary'}`}
      onClick={props.onClick}
      disabled={props.disabled}
      aria-label={props.label}
      aria-describedby={props.describedBy}
    >
      {props.children}
    </button>
  );
}

/**
 * Loads data and reloads it on demand; `error` carries what to do next. `reload()` settles once the
 * new data (or the failure) is in, so an action can announce its outcome next to the list it changed.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): {
  data?: T; error?: { text: string; next?: string }; loading: boolean; reload: () => Promise<void>;
} {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<{ text: string; next?: string }>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const waiting = useRef<Array<() => void>>([]);
  useEffect(() => {
    let live = true;
    setLoading(true);
    const settle = () => { for (const resolve of waiting.current.splice(0)) resolve(); };
    load().then(
      (d) => { if (live) { setData(d); setError(undefined); setLoading(false); settle(); } },
      (e: unknown) => { if (live) { setError(describeError(e)); setLoading(false); settle(); } },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => new Promise<void>((resolve) => { waiting.current.push(resolve); setTick((t) => t + 1); }), []);
  return { data, error, loading, reload };
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" role="status"><span class="spinner" aria-hidden="true" /> Loading {what}…</p>;
}

export function Problem({ error, retry }: { error: { text: string; next?: string }; retry?: () => void }) {
  return (
    <div class="status status-failed" role="alert">
      <strong>Could not load this:</strong> {error.text} {error.next && <span class="next">{error.next}</span>}
      {retry && <> <Button onClick={retry}>Try again</Button></>}
    </div>
  );
}

export function Section(props: { title: string; id?: string; children: ComponentChildren; intro?: string }) {
  const headingId = `${props.id ?? props.title.toLowerCase().replace(/\W+/g, '-')}-heading`;
  return (
    <section class="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{props.title}</h2>
      {props.intro && <p class="muted">{props.intro}</p>}
      {props.children}
    </section>
  );
}

export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export function formatDate(unixSeconds: number): string {
  if (!unixSeconds) return 'no end date';
  return new Date(unixSeconds * 1000).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/** "until 3 Mar 2026", or "with no end date" (0 = no expiry). */
export function endText(unixSeconds: number): string {
  return unixSeconds ? `until ${formatDate(unixSeconds)}` : 'with no end date';
}

/** Record types in people's words: "prescriptions", "results and measurements, allergies". */
export function describeTypes(types: readonly string[] | '*'): string {
  if (types === '*') return 'all record types';
  if (types.length === 1 && types[0] === 'MedicationRequest') return 'prescriptions';
  if (types.length > 0 && types.every((t) => t.startsWith('Medication'))) return 'prescriptions and medication records';
  return types.map((t) => recordTypeLabel(t).toLowerCase()).join(', ');
}

/** Tabs as a nav of links (hash routes) so they work with the keyboard and the back button. */
export function Tabs(props: { tabs: ReadonlyArray<readonly [id: string, label: string, badge?: number]>; current: string; label: string }) {
  return (
    <nav class="tabs" aria-label={props.label}>
      {props.tabs.map(([id, label, badge]) => (
        <a href={`#${id}`} aria-current={props.current === id ? 'page' : undefined} key={id}>
          {label}{badge ? <span class="badge" aria-label={`${badge} new`}>{badge}</span> : null}
        </a>
      ))}
    </nav>
  );
}

export function useHashRoute(fallback: string): string {
  const read = () => location.hash.replace(/^#/, '') || fallback;
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
