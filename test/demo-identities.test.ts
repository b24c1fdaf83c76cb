import t from 'tap';
import { demoAddress, DEMO_CAST } from '../server/embedded/demo-identities.ts';

t.test('demo identities come from the published dev mnemonic (anvil account 0 is the operator)', async (t) => {
  t.equal(demoAddress('operator'), '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266');
  t.equal(new Set(DEMO_CAST.map((i) => demoAddress(i.handle))).size, DEMO_CAST.length, 'addresses are distinct');
});
