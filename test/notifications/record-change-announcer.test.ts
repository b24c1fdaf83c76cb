import t from 'tap';
import { AbiCoder, dataSlice, id } from 'ethers';
import pino from 'pino';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { RecordChangeAnnouncer } from '../../server/notifications/record-change-announcer.ts';

t.test('a busy feed becomes one on-chain RecordsChanged per linked patient per flush, with no clinical content', async (t) => {
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const alice = demoAddress('alice');
  const bob = demoAddress('bob');
  const links = new InMemoryPatientLinks([
    { patient: alice, sourceId: 'hl7-hospital', localId: 'SLMC-1' },
    { patient: bob, sourceId: 'hl7-hospital', localId: 'SLMC-2' },
  ]);
  const hospital = demoWallet('hl7-hospital').connect(chain.provider);
  const announcer = new RecordChangeAnnouncer({
    client: chain.client,
    patientOf: (sourceId, localId) => links.patientOf(sourceId, localId),
    signerFor: (sourceId) => (sourceId === 'hl7-hospital' ? hospital : undefined),
    log: pino({ level: 'silent' }),
    flushIntervalMs: 60_000,
  });
  t.teardown(() => announcer.close());

  const from = await chain.provider.getBlockNumber();
  for (let i = 0; i < 50; i++) announcer.recordsChanged('hl7-hospital', ['SLMC-1', 'SLMC-2', 'not-linked']);
  announcer.recordsChanged('clinic', ['rfc-1001']); // a source without a node key stays silent
  await announcer.flush();

  const recordsChanged = async () => {
    const logs = await chain.provider.getLogs({
      address: chain.addresses.relationships,
      topics: [id('RecordsChanged(address,address,string[])')],
      fromBlock: from + 1,
    });
    return logs.map((log) => ({
      provider: dataSlice(log.topics[1] ?? '0x', 12).toLowerCase(),
      patient: dataSlice(log.topics[2] ?? '0x', 12).toLowerCase(),
      resourceTypes: [...AbiCoder.defaultAbiCoder().decode(['string[]'], log.data)[0]],
    }));
  };
  const announced = await recordsChanged();
  t.same(
    announced.sort((a, b) => a.patient.localeCompare(b.patient)),
    [alice, bob].sort().map((patient) => ({ provider: demoAddress('hl7-hospital'), patient, resourceTypes: [] })),
  );

  await announcer.flush();
  t.equal((await recordsChanged()).length, 2, 'nothing new, nothing announced');
});
