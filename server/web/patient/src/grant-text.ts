/** How a grant reads in words, the same in the list, the requests and the network picture. */
import type { GrantView, ProviderView } from '../../shared/src/api-types.ts';
import { describeTypes, endText, shortAddress } from '../../shared/src/ui.tsx';

/** "from every provider", "at Mercy General Hospital". */
export function whereText(covered: readonly string[] | '*', providers: readonly ProviderView[]): string {
  if (covered === '*') return 'from every provider';
  return `at ${covered.map((a) => providers.find((p) => p.address === a)?.name ?? shortAddress(a)).join(', ')}`;
}

export function grantSummary(grant: GrantView, providers: readonly ProviderView[]): string {
  if (grant.kind === 'delegation') return `acts for you as your healthcare proxy, ${endText(grant.expiresAt)}`;
  return `${describeTypes(grant.resourceTypes)} ${whereText(grant.providers, providers)}, for ${grant.purpose}, ${endText(grant.expiresAt)}`;
}
