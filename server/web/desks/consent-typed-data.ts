/**
 * The Consent contract's relayed actions as JSON typed data for `eth_signTypedData_v4`: the types
 * come from contracts/eip712.ts (checked there against the contract's TYPEHASH constants); numbers
 * travel as decimal strings because JSON has no bigint.
 */
import { ACTION_TYPES, DOMAIN_NAME } from '../../../contracts/eip712.ts';
import type { TypedData } from '../shared/src/api-types.ts';

export const CONSENT_ACTIONS = ['CreateGrant', 'RevokeGrant', 'SetDelegation', 'RevokeDelegation', 'AnswerRequest', 'Enroll', 'Withdraw'] as const;
export type ConsentPrimaryType = (typeof CONSENT_ACTIONS)[number];

export function consentDomain(chainId: number, verifyingContract: string): Record<string, unknown> {
  return { name: DOMAIN_NAME.consent, version: '1', chainId, verifyingContract };
}

export function consentTypedData(domain: Record<string, unknown>, primaryType: ConsentPrimaryType, message: Record<string, unknown>): TypedData {
  return { domain, types: ACTION_TYPES[primaryType], primaryType, message };
}

export function isConsentPrimaryType(value: string): value is ConsentPrimaryType {
  return (CONSENT_ACTIONS as readonly string[]).includes(value);
}
