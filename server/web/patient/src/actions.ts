/** A patient action end to end: the server prepares the EIP-712 message, the patient signs, a relayer submits. */
import { api } from '../../shared/src/api.ts';
import type { PatientActionParams, PreparedAction, RelayOutcome } from '../../shared/src/api-types.ts';
import type { Signer } from '../../shared/src/wallet.ts';

export async function signAndRelay(
  params: PatientActionParams,
  signer: Signer,
  me: string,
  progress: (text: string) => void,
): Promise<RelayOutcome> {
  const prepared = await api<PreparedAction>('/web/api/patient/actions/prepare', { body: params });
  progress(signer.demo ? 'Signing with the demo key…' : 'Please confirm in your wallet…');
  const signature = await signer.signTypedData(me, prepared.typedData);
  progress('Sending it to the network (no fees for you)…');
  return api<RelayOutcome>('/web/api/patient/actions/relay', { body: { typedData: prepared.typedData, signature } });
}
