import t from 'tap';
import { readFileSync } from 'node:fs';
import { ARTIFACT_DIR, DEPLOYABLE, buildContracts } from '../../contracts/build.ts';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { participantDirectoryAbi } from '../../contracts/bindings/ParticipantDirectory.ts';
import { providerRegistryAbi } from '../../contracts/bindings/ProviderRegistry.ts';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';

t.test('a build with unchanged sources is a no-op', async (t) => {
  buildContracts();
  const again = buildContracts();
  t.equal(again.compiled, false);
  t.same(again.contracts, DEPLOYABLE);
});

t.test('the committed bindings carry exactly the compiled ABI', async (t) => {
  const bindings = { ProviderRegistry: providerRegistryAbi, ParticipantDirectory: participantDirectoryAbi, Relationships: relationshipsAbi, Consent: consentAbi };
  for (const name of DEPLOYABLE) {
    const artifact = JSON.parse(readFileSync(`${ARTIFACT_DIR}/${name}.json`, 'utf8')) as { abi: unknown; bytecode: string; deployedBytecode: string };
    t.same(bindings[name], artifact.abi, name);
    t.ok(artifact.bytecode.length > 2, `${name} has bytecode`);
    t.ok((artifact.deployedBytecode.length - 2) / 2 <= 24_576, `${name} fits the EIP-170 code size limit (Besu enforces it)`);
  }
});
