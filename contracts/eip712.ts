/**
 * EIP-712 typed messages for the patient actions any relayer may submit (`...BySig`). The type
 * strings here must match the `*_TYPEHASH` constants in contracts/src (a test compares them).
 * Wallets show these fields to the patient before signing, so names are the contract's own.
 */
import { TypedDataEncoder, type Signer, type TypedDataDomain, type TypedDataField } from 'ethers';
import type { TermsInput } from './bindings/Consent.ts';
import type { Role } from './bindings/ParticipantDirectory.ts';

const TERMS: TypedDataField[] = [
  { name: 'providers', type: 'address[]' },
  { name: 'resourceTypes', type: 'string[]' },
  { name: 'actions', type: 'uint8' },
  { name: 'purpose', type: 'uint8' },
  { name: 'notBefore', type: 'uint64' },
  { name: 'expiresAt', type: 'uint64' },
];
const tail: TypedDataField[] = [
  { name: 'nonce', type: 'uint256' },
  { name: 'deadline', type: 'uint256' },
];

/** Fields every signed action carries besides its own. */
export interface SignedEnvelope {
  /** The signer: the patient, or the proxy acting for the patient. */
  readonly actor: string;
  /** `nonces(actor)` on the verifying contract. */
  readonly nonce: bigint;
  /** Unix seconds after which the signature is void. */
  readonly deadline: bigint;
}

/** The message of each signed action. */
export interface ActionMessages {
  CreateGrant: SignedEnvelope & { readonly patient: string; readonly grantee: string; readonly terms: TermsInput };
  RevokeGrant: SignedEnvelope & { readonly grantId: bigint };
  SetDelegation: SignedEnvelope & { readonly proxy: string; readonly expiresAt: bigint | number };
  RevokeDelegation: SignedEnvelope & { readonly patient: string; readonly proxy: string };
  AnswerRequest: SignedEnvelope & { readonly requestId: bigint; readonly approve: boolean };
  Enroll: SignedEnvelope & { readonly studyId: bigint; readonly patient: string };
  Withdraw: SignedEnvelope & { readonly studyId: bigint; readonly patient: string };
  EndRelationship: SignedEnvelope & { readonly provider: string };
  Register: SignedEnvelope & { readonly role: Role; readonly displayName: string; readonly jwksUrl: string };
  Update: SignedEnvelope & { readonly role: Role; readonly displayName: string; readonly jwksUrl: string };
  Unregister: SignedEnvelope;
}

export type ActionType = keyof ActionMessages;

/** Which deployed contract verifies each action. */
export type VerifyingContract = 'consent' | 'relationships' | 'participantDirectory';

export const ACTION_CONTRACT: { readonly [K in ActionType]: VerifyingContract } = {
  CreateGrant: 'consent',
  RevokeGrant: 'consent',
  SetDelegation: 'consent',
  RevokeDelegation: 'consent',
  AnswerRequest: 'consent',
  Enroll: 'consent',
  Withdraw: 'consent',
  EndRelationship: 'relationships',
  Register: 'participantDirectory',
  Update: 'participantDirectory',
  Unregister: 'participantDirectory',
};

/** EIP-712 domain names (version "1") of the verifying contracts. */
export const DOMAIN_NAME: { readonly [K in VerifyingContract]: string } = {
  consent: 'MedRec Consent',
  relationships: 'MedRec Relationships',
  participantDirectory: 'MedRec ParticipantDirectory',
};

export const ACTION_TYPES: { readonly [K in ActionType]: Record<string, TypedDataField[]> } = {
  CreateGrant: {
    CreateGrant: [
      { name: 'actor', type: 'address' },
      { name: 'patient', type: 'address' },
      { name: 'grantee', type: 'address' },
      { name: 'terms', type: 'Terms' },
      ...tail,
    ],
    Terms: TERMS,
  },
  RevokeGrant: { RevokeGrant: [{ name: 'actor', type: 'address' }, { name: 'grantId', type: 'uint256' }, ...tail] },
  SetDelegation: {
    SetDelegation: [
      { name: 'actor', type: 'address' },
      { name: 'proxy', type: 'address' },
      { name: 'expiresAt', type: 'uint64' },
      ...tail,
    ],
  },
  RevokeDelegation: {
    RevokeDelegation: [
      { name: 'actor', type: 'address' },
      { name: 'patient', type: 'address' },
      { name: 'proxy', type: 'address' },
      ...tail,
    ],
  },
  AnswerRequest: {
    AnswerRequest: [
      { name: 'actor', type: 'address' },
      { name: 'requestId', type: 'uint256' },
      { name: 'approve', type: 'bool' },
      ...tail,
    ],
  },
  Enroll: {
    Enroll: [
      { name: 'actor', type: 'address' },
      { name: 'studyId', type: 'uint256' },
      { name: 'patient', type: 'address' },
      ...tail,
    ],
  },
  Withdraw: {
    Withdraw: [
      { name: 'actor', type: 'address' },
      { name: 'studyId', type: 'uint256' },
      { name: 'patient', type: 'address' },
      ...tail,
    ],
  },
  EndRelationship: {
    EndRelationship: [{ name: 'actor', type: 'address' }, { name: 'provider', type: 'address' }, ...tail],
  },
  Register: {
    Register: [
      { name: 'actor', type: 'address' },
      { name: 'role', type: 'uint8' },
      { name: 'displayName', type: 'string' },
      { name: 'jwksUrl', type: 'string' },
      ...tail,
    ],
  },
  Update: {
    Update: [
      { name: 'actor', type: 'address' },
      { name: 'role', type: 'uint8' },
      { name: 'displayName', type: 'string' },
      { name: 'jwksUrl', type: 'string' },
      ...tail,
    ],
  },
  Unregister: { Unregister: [{ name: 'actor', type: 'address' }, ...tail] },
};

/** The EIP-712 domain of a verifying contract on a chain. */
export function actionDomain(contract: VerifyingContract, chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return { name: DOMAIN_NAME[contract], version: '1', chainId, verifyingContract };
}

/** A signed action, ready for any relayer. */
export interface SignedAction<K extends ActionType = ActionType> {
  readonly type: K;
  readonly message: ActionMessages[K];
  readonly signature: string;
}

/** Signs an action as `signer` (which must be `message.actor`). */
export async function signAction<K extends ActionType>(
  signer: Signer,
  domain: TypedDataDomain,
  type: K,
  message: ActionMessages[K],
): Promise<SignedAction<K>> {
  const signature = await signer.signTypedData(domain, ACTION_TYPES[type], { ...message });
  return { type, message, signature };
}

/** The EIP-712 type string of an action (what the contract's `*_TYPEHASH` hashes). */
export function actionTypeString(type: ActionType): string {
  return TypedDataEncoder.from(ACTION_TYPES[type]).encodeType(type);
}
