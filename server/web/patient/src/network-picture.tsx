/**
 * The picture of my network: the providers holding my records, me, and everyone who can read
 * them, each with what their access covers, for what, and until when. A grant for every provider
 * starts at me; a grant for some providers starts at those providers, so the picture shows whose
 * records it opens. Three columns on a wide screen; stacked on a phone, where the captions alone
 * name the providers.
 */
import type { GrantView, PatientNetwork, ProviderView } from '../../shared/src/api-types.ts';
import { describeTypes, endText } from '../../shared/src/ui.tsx';
import { whereText } from './grant-text.ts';

const KIND_COLOR: Record<GrantView['kind'], string> = { delegation: '#7b3fa0', study: '#0f6b3a', grant: '#0b5cad' };
const LINE = 15;
/** Characters per line at 12 px in a box of the given width (system-ui averages about 6 px; a little room to spare). */
const fits = (width: number) => Math.floor((width - 16) / 6.2);

/** Word-wraps `text` into at most `lines` lines of `chars`; what does not fit ends in an ellipsis. */
function wrap(text: string, chars: number, lines: number): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const out: string[] = [];
  let i = 0;
  while (i < words.length && out.length < lines) {
    let line = words[i++] ?? '';
    while (i < words.length && `${line} ${words[i]}`.length <= chars) line += ` ${words[i++]}`;
    out.push(line);
  }
  return out.map((l, k) => (l.length > chars || (k === out.length - 1 && i < words.length) ? `${l.slice(0, chars - 1).trimEnd()}…` : l));
}

/** The caption lines under a grantee's name: what and where, for what, until when. */
function coverage(grant: GrantView, providers: readonly ProviderView[]): { what: string; terms: string } {
  const until = endText(grant.expiresAt);
  if (grant.kind === 'delegation') return { what: 'acts for you: all records, and sharing', terms: `healthcare proxy, ${until}` };
  const purpose = grant.kind === 'study' ? 'research study' : `for ${grant.purpose}`;
  return { what: `${describeTypes(grant.resourceTypes)} ${whereText(grant.providers, providers)}`, terms: `${purpose}, ${until}` };
}

interface Box { x: number; y: number; w: number; h: number }

export function NetworkPicture({ network }: { network: PatientNetwork }) {
  const grants = network.grants.filter((g) => g.active);
  const providers = network.providers;
  const narrow = typeof window !== 'undefined' && window.matchMedia('(max-width: 600px)').matches;
  const width = narrow ? 320 : 760;
  const providerW = narrow ? 300 : 230;
  const granteeW = narrow ? 300 : 280;
  const providerChars = fits(providerW);
  const granteeChars = fits(granteeW);

  // Caption lines decide each grantee box's height.
  const cards = grants.map((g) => {
    const c = coverage(g, providers);
    const lines = [...wrap(g.grantee.name, granteeChars, 1), ...wrap(c.what, granteeChars, 2), ...wrap(c.terms, granteeChars, 1)];
    return { grant: g, lines, h: 12 + lines.length * LINE };
  });
  const providerLines = providers.map((p) => wrap(p.name, providerChars, 2));
  const providerH = (i: number) => 14 + (providerLines[i]?.length ?? 1) * LINE;
  const gap = 12;
  const column = (heights: number[]) => heights.reduce((a, h) => a + h + gap, -gap);
  const providersTall = column(providers.map((_, i) => providerH(i)));
  const granteesTall = column(cards.map((c) => c.h));

  let height: number;
  let me: { x: number; y: number };
  const providerBoxes: Box[] = [];
  const granteeBoxes: Box[] = [];
  if (narrow) {
    let y = 10;
    providers.forEach((_, i) => { providerBoxes.push({ x: 10, y, w: providerW, h: providerH(i) }); y += providerH(i) + gap; });
    me = { x: width / 2, y: y + 40 };
    y = me.y + 50;
    for (const c of cards) { granteeBoxes.push({ x: 10, y, w: granteeW, h: c.h }); y += c.h + gap; }
    height = y + 10;
  } else {
    height = Math.max(180, Math.max(providersTall, granteesTall) + 40);
    me = { x: 380, y: height / 2 };
    let y = (height - providersTall) / 2;
    providers.forEach((_, i) => { providerBoxes.push({ x: 10, y, w: providerW, h: providerH(i) }); y += providerH(i) + gap; });
    y = (height - granteesTall) / 2;
    for (const c of cards) { granteeBoxes.push({ x: width - granteeW - 10, y, w: granteeW, h: c.h }); y += c.h + gap; }
  }

  const meR = narrow ? 28 : 36;
  /** Where a grant's line starts: at me, or (wide screen, some providers only) at each of those providers. */
  const origins = (g: GrantView): Array<{ x: number; y: number; fromProvider: boolean }> => {
    if (narrow || g.providers === '*') return [{ ...me, fromProvider: false }];
    const boxes = g.providers.map((a) => providers.findIndex((p) => p.address === a)).map((i) => providerBoxes[i]);
    if (boxes.some((b) => !b)) return [{ ...me, fromProvider: false }];
    return boxes.map((b) => ({ x: (b as Box).x + (b as Box).w, y: (b as Box).y + (b as Box).h / 2, fromProvider: true }));
  };

  /** A provider's line to a grantee passes above or below me, so it is not read as coming from me. */
  const aroundMe = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const mid = (from.y + to.y) / 2;
    const pass = mid <= me.y ? Math.min(mid, me.y - meR - 18) : Math.max(mid, me.y + meR + 18);
    return `M ${from.x} ${from.y} C ${from.x + 60} ${from.y}, ${me.x - 80} ${pass}, ${me.x} ${pass} S ${to.x - 60} ${to.y}, ${to.x} ${to.y}`;
  };

  return (
    <figure class="network-figure">
      <svg class="network" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="network-picture-title network-picture-desc">
        <title id="network-picture-title">Picture of my network</title>
        <desc id="network-picture-desc">
          {`${providers.length} providers hold records about you; ${grants.length} people or organisations can see some of them. The list below says the same in words.`}
        </desc>
        {providerBoxes.map((b, i) => {
          const anchor = narrow ? { x: b.x + b.w / 2, y: b.y + b.h } : { x: b.x + b.w, y: b.y + b.h / 2 };
          return <line key={`held-${i}`} x1={anchor.x} y1={anchor.y} x2={me.x} y2={me.y} stroke="#8a94a6" stroke-dasharray="4 3" />;
        })}
        {cards.map((c, i) => {
          const b = granteeBoxes[i] as Box;
          const end = narrow ? { x: b.x + b.w / 2, y: b.y } : { x: b.x, y: b.y + b.h / 2 };
          return origins(c.grant).map((o, j) => (
            <path
              key={`${c.grant.id}-${j}`}
              d={o.fromProvider ? aroundMe(o, end) : `M ${o.x} ${o.y} L ${end.x} ${end.y}`}
              fill="none"
              stroke={KIND_COLOR[c.grant.kind]}
              stroke-width={2}
            />
          ));
        })}
        {providerBoxes.map((b, i) => (
          <g key={providers[i]?.address}>
            <rect x={b.x} y={b.y} width={b.w} height={b.h} rx={8} fill="#e8edf5" stroke="#0b5cad" />
            {(providerLines[i] ?? []).map((l, k) => <text key={k} x={b.x + 8} y={b.y + 19 + k * LINE}>{l}</text>)}
          </g>
        ))}
        <circle cx={me.x} cy={me.y} r={meR} fill="#0b5cad" />
        <text x={me.x} y={me.y + 4} text-anchor="middle" style="fill:#fff;font-weight:600">Me</text>
        {cards.map((c, i) => {
          const b = granteeBoxes[i] as Box;
          return (
            <g key={c.grant.id}>
              <rect x={b.x} y={b.y} width={b.w} height={b.h} rx={8} fill="#fff" stroke={KIND_COLOR[c.grant.kind]} stroke-width={1.5} />
              {c.lines.map((l, k) => (
                <text key={k} x={b.x + 8} y={b.y + 18 + k * LINE} class={k === 0 ? 'name' : 'caption'}>{l}</text>
              ))}
            </g>
          );
        })}
      </svg>
      <figcaption class="muted">
        {narrow
          ? 'Top: providers that hold records about you. Bottom: who can read them, what, for what and until when.'
          : 'Left: providers that hold records about you. Right: who can read them, what, for what and until when. A line from Me covers every provider; a line from a provider covers only that provider’s records.'}
      </figcaption>
    </figure>
  );
}
