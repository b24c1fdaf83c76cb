/**
 * Parsing of the consent vocabulary on the command line: actions, purposes, roles, times and
 * the `--provider/--type/...` options that make up grant, request and study terms.
 */
import type { Command } from 'commander';
import { getAddress, isAddress } from 'ethers';
import { Purpose, type Terms, type TermsInput } from '../../contracts/bindings/Consent.ts';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { CliError } from './cli-context.ts';

export const PURPOSE_NAMES: Record<string, Purpose> = {
  treatment: Purpose.Treatment,
  payment: Purpose.Payment,
  operations: Purpose.Operations,
  research: Purpose.Research,
  'public-health': Purpose.PublicHealth,
  any: Purpose.Any,
};

export const ROLE_NAMES: Record<string, Role> = {
  patient: Role.Patient,
  pharmacy: Role.Pharmacy,
  proxy: Role.Proxy,
  researcher: Role.Researcher,
  clinician: Role.Clinician,
  organisation: Role.Organisation,
};

const nameOf = <T>(table: Record<string, T>, code: T): string => Object.entries(table).find(([, v]) => v === code)?.[0] ?? String(code);
export const purposeName = (code: Purpose): string => nameOf(PURPOSE_NAMES, code);
export const roleName = (code: Role): string => (code === Role.None ? 'none' : nameOf(ROLE_NAMES, code));

export function parseAddress(value: string, what = 'address'): string {
  if (!isAddress(value)) throw new CliError(`not an Ethereum ${what}: ${value}`);
  return getAddress(value);
}

export function parseId(value: string, what = 'id'): bigint {
  if (!/^\d+$/.test(value)) throw new CliError(`${what} must be a positive integer: ${value}`);
  return BigInt(value);
}

/** `read`, `search`, `read,search` → bit set. */
export function parseActions(value: string): number {
  let bits = 0;
  for (const part of value.split(',').map((s) => s.trim())) {
    if (part === 'read') bits |= 1;
    else if (part === 'search') bits |= 2;
    else throw new CliError(`unknown action ${part} (read, search)`);
  }
  return bits;
}

export function actionNames(bits: number): string {
  return [bits & 1 ? 'read' : '', bits & 2 ? 'search' : ''].filter(Boolean).join(',');
}

export function parsePurpose(value: string): Purpose {
  const code = PURPOSE_NAMES[value];
  if (code === undefined) throw new CliError(`unknown purpose ${value} (${Object.keys(PURPOSE_NAMES).join(', ')})`);
  return code;
}

export function parseRole(value: string): Role {
  const code = ROLE_NAMES[value];
  if (code === undefined) throw new CliError(`unknown role ${value} (${Object.keys(ROLE_NAMES).join(', ')})`);
  return code;
}

/** Unix seconds from `0`, unix seconds, an ISO date, or a relative `+30d` / `+12h` / `+15m`. */
export function parseTime(value: string, now = Math.floor(Date.now() / 1000)): number {
  if (/^\d+$/.test(value)) return Number(value);
  const relative = /^\+(\d+)([dhm])$/.exec(value);
  if (relative) return now + Number(relative[1]) * { d: 86_400, h: 3600, m: 60 }[relative[2] as 'd' | 'h' | 'm'];
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`not a time: ${value} (unix seconds, ISO date, or +30d/+12h/+15m)`);
  return Math.floor(ms / 1000);
}

export const formatTime = (seconds: number): string => (seconds === 0 ? '-' : new Date(seconds * 1000).toISOString());

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds the options that make up terms to a command. */
export function termsOptions(command: Command, defaults: { purpose?: string } = {}): Command {
  return command
    .option('--provider <address>', 'a provider the terms cover (repeatable; none = any provider)', collect)
    .option('--type <ResourceType>', 'a FHIR resource type (repeatable; none = all types)', collect)
    .option('--actions <list>', 'read, search or read,search', 'read,search')
    .option('--purpose <purpose>', `purpose of use (${Object.keys(PURPOSE_NAMES).join(', ')})`, defaults.purpose ?? 'treatment')
    .option('--not-before <time>', 'start (unix seconds, ISO date, +1d)', '0')
    .option('--expires <time>', 'expiry (unix seconds, ISO date, +30d; 0 = never)', '0');
}

export interface TermsFlags {
  readonly provider?: string[];
  readonly type?: string[];
  readonly actions: string;
  readonly purpose: string;
  readonly notBefore: string;
  readonly expires: string;
}

export function parseTerms(flags: TermsFlags): TermsInput {
  return {
    providers: (flags.provider ?? []).map((p) => parseAddress(p, 'provider address')),
    resourceTypes: flags.type ?? [],
    actions: parseActions(flags.actions),
    purpose: parsePurpose(flags.purpose),
    notBefore: parseTime(flags.notBefore),
    expiresAt: parseTime(flags.expires),
  };
}

/** One line: what terms cover. */
export function describeTerms(t: Terms): string {
  const providers = t.providers.length === 0 ? 'any provider' : t.providers.join(',');
  const types = t.resourceTypes.length === 0 ? 'all types' : t.resourceTypes.join(',');
  const window = t.notBefore || t.expiresAt ? ` from ${formatTime(t.notBefore)} until ${formatTime(t.expiresAt)}` : '';
  return `${types} from ${providers}, ${actionNames(t.actions)}, purpose ${purposeName(t.purpose)}${window}`;
}
