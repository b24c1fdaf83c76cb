/** My network: the providers holding my records and everyone who can see them, as a picture and a list. */
import type { GrantView, PatientNetwork, ProviderView } from '../../shared/src/api-types.ts';
import { ActionStatus, Button, Section, describeTypes, formatDate, shortAddress, useAction, type ActionControl } from '../../shared/src/ui.tsx';
import type { Signer } from '../../shared/src/wallet.ts';
import { signAndRelay } from './actions.ts';

export interface PatientScreenProps {
  readonly network: PatientNetwork;
  readonly signer: Signer | undefined;
  readonly me: string;
  /** Settles once the network is read again. */
  readonly reload: () => Promise<void>;
}

function whereText(grant: GrantView, providers: readonly ProviderView[]): string {
  if (grant.providers === '*') return 'from every provider';
  const names = grant.providers.map((a) => providers.find((p) => p.address === a)?.name ?? shortAddress(a));
  return `at ${names.join(', ')}`;
}

export function grantSummary(grant: GrantView, providers: readonly ProviderView[]): string {
  if (grant.kind === 'delegation') return `acts for you as your healthcare proxy, until ${formatDate(grant.expiresAt)}`;
  const what = describeTypes(grant.resourceTypes);
  return `${what} ${whereText(grant, providers)}, for ${grant.purpose}, until ${formatDate(grant.expiresAt)}`;
}

function granteeCaption(g: GrantView): string {
  if (g.kind === 'delegation') return 'healthcare proxy';
  return `${describeTypes(g.resourceTypes)} · ${g.providers === '*' ? 'all providers' : `${g.providers.length} provider(s)`}`;
}

const KIND_COLOR: Record<GrantView['kind'], string> = { delegation: '#7b3fa0', study: '#0f6b3a', grant: '#0b5cad' };
const trim = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * The picture of my network: providers → me → people and organisations who can read. Three
 * columns on a wide screen; on a phone the same graph stacked top to bottom so the labels stay readable.
 */
function NetworkPicture({ network }: { network: PatientNetwork }) {
  const grants = network.grants.filter((g) => g.active);
  const providers = network.providers;
  const narrow = typeof window !== 'undefined' && window.matchMedia('(max-width: 600px)').matches;
  const box = narrow ? { w: 300, h: 44 } : { w: 190, h: 48 };
  let width: number;
  let height: number;
  let me: { x: number; y: number };
  let providerAt: (i: number) => { x: number; y: number };
  let granteeAt: (i: number) => { x: number; y: number };
  if (narrow) {
    width = 320;
    const top = 10;
    const meY = top + providers.length * (box.h + 8) + 50;
    me = { x: width / 2, y: meY };
    height = meY + 50 + grants.length * (box.h + 8) + 10;
    providerAt = (i) => ({ x: 10, y: top + i * (box.h + 8) });
    granteeAt = (i) => ({ x: 10, y: meY + 50 + i * (box.h + 8) });
  } else {
    width = 720;
    const rows = Math.max(providers.length, grants.length, 1);
    height = Math.max(160, rows * 64 + 40);
    me = { x: width / 2, y: height / 2 };
    const yAt = (i: number, n: number) => (height / (n + 1)) * (i + 1) - box.h / 2;
    providerAt = (i) => ({ x: 10, y: yAt(i, providers.length) });
    granteeAt = (i) => ({ x: width - box.w - 10, y: yAt(i, grants.length) });
  }
  const chars = narrow ? 40 : 26;
  return (
    <figure class="network-figure">
      <svg class="network" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="network-picture-title network-picture-desc">
        <title id="network-picture-title">Picture of my network</title>
        <desc id="network-picture-desc">
          {`${providers.length} providers hold records about you; ${grants.length} people or organisations can see some of them.`}
        </desc>
        {providers.map((p, i) => {
          const at = providerAt(i);
          const anchor = narrow ? { x: at.x + box.w / 2, y: at.y + box.h } : { x: at.x + box.w, y: at.y + box.h / 2 };
          return (
            <g key={p.address}>
              <line x1={anchor.x} y1={anchor.y} x2={me.x} y2={me.y} stroke="#8a94a6" stroke-dasharray="4 3" />
              <rect x={at.x} y={at.y} width={box.w} height={box.h} rx={8} fill="#e8edf5" stroke="#0b5cad" />
              <text x={at.x + box.w / 2} y={at.y + box.h / 2 + 4} text-anchor="middle">{trim(p.name, chars)}</text>
            </g>
          );
        })}
        {grants.map((g, i) => {
          const at = granteeAt(i);
          const anchor = narrow ? { x: at.x + box.w / 2, y: at.y } : { x: at.x, y: at.y + box.h / 2 };
          return (
            <g key={g.id}>
              <line x1={me.x} y1={me.y} x2={anchor.x} y2={anchor.y} stroke={KIND_COLOR[g.kind]} stroke-width={2} />
              <rect x={at.x} y={at.y} width={box.w} height={box.h} rx={8} fill="#fff" stroke={KIND_COLOR[g.kind]} />
              <text x={at.x + box.w / 2} y={at.y + 18} text-anchor="middle">{trim(g.grantee.name, chars)}</text>
              <text x={at.x + box.w / 2} y={at.y + 36} text-anchor="middle" fill="#505a6b">{trim(granteeCaption(g), chars + 4)}</text>
            </g>
          );
        })}
        <circle cx={me.x} cy={me.y} r={narrow ? 28 : 40} fill="#0b5cad" />
        <text x={me.x} y={me.y + 4} text-anchor="middle" style="fill:#fff;font-weight:600">Me</text>
      </svg>
      <figcaption class="muted">{narrow ? 'Top: providers that hold records about you. Bottom: who can read them and what.' : 'Left: providers that hold records about you. Right: who can read them and what.'}</figcaption>
    </figure>
  );
}

function GrantRow({ grant, props, action }: { grant: GrantView; props: PatientScreenProps; action: ActionControl }) {
  const revoke = () => {
    if (!props.signer) return;
    const signer = props.signer;
    void action.run('Preparing…', async (progress) => {
      const params = grant.kind === 'delegation'
        ? { action: 'undelegate' as const, id: grant.id }
        : grant.kind === 'study'
          ? { action: 'withdraw' as const, id: grant.id }
          : { action: 'revoke' as const, id: grant.id };
      const outcome = await signAndRelay(params, signer, props.me, progress);
      await props.reload();
      return `${grant.grantee.name} can no longer see these records (block ${outcome.blockNumber}).`;
    });
  };
  const verb = grant.kind === 'study' ? 'Leave study' : 'Revoke';
  return (
    <li>
      <div>
        <strong>{grant.grantee.name}</strong> <span class="pill">{grant.kind === 'delegation' ? 'proxy' : grant.grantee.role}</span>
        <div class="muted">{grantSummary(grant, props.network.providers)}</div>
      </div>
      {grant.active && (
        <Button kind="danger" onClick={revoke} disabled={!props.signer || action.state.phase === 'working'} label={`${verb}: ${grant.grantee.name}`}>
          {action.state.phase === 'working' ? 'Working…' : verb}
        </Button>
      )}
    </li>
  );
}

export function NetworkScreen(props: PatientScreenProps) {
  const { network } = props;
  const active = network.grants.filter((g) => g.active);
  const action = useAction();
  return (
    <>
      <Section title="My network" intro="Everyone who holds or can read your records. You can change any of it at any time.">
        <NetworkPicture network={network} />
      </Section>
      <Section title="Providers holding my records" id="providers">
        {network.providers.length === 0 ? <p class="muted">No provider has linked records to you yet.</p> : (
          <ul class="list">
            {network.providers.map((p) => (
              <li key={p.address}><span><strong>{p.name}</strong> <span class="muted">{shortAddress(p.address)}</span></span></li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Who can see my records" id="grants">
        {active.length === 0 ? <p class="muted">Nobody else can see your records. Use “Share” to let someone in.</p> : (
          <ul class="list">{active.map((g) => <GrantRow key={g.id} grant={g} props={props} action={action} />)}</ul>
        )}
        <ActionStatus state={action.state} />
      </Section>
    </>
  );
}
