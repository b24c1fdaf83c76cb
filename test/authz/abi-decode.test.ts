import t from 'tap';
import { Interface, type EventFragment, type ParamType } from 'ethers';
import { AUTHZ_EVENTS } from '../../server/authz/contract-events.ts';
import { EventDecoder, fastDecodable } from '../../server/authz/abi-decode.ts';

const iface = new Interface(AUTHZ_EVENTS as unknown as string[]);
const decoder = new EventDecoder(iface);

const A = '0x8ba1f109551bd432803012645ac136ddd64dba72';
const B = '0x00000000000000000000000000000000000000ff';
function sample(p: ParamType, variant: number): unknown {
  switch (p.type) {
    case 'address':
      return variant ? B : A;
    case 'address[]':
      return variant ? [] : [A, B, A];
    case 'string':
      return variant ? '' : 'Mercy General — ü 🏥 https://x.example/fhir';
    case 'string[]':
      return variant ? ['MedicationRequest'] : ['MedicationRequest', 'Medication', '', 'Observation'];
    case 'bytes32':
      return '0x' + (variant ? '00' : 'ab').repeat(32);
    case 'uint256':
      return variant ? 0n : 2n ** 255n + 7n;
    default:
      return variant ? 0n : 200n; // uint8 / uint64
  }
}

const plain = (v: unknown): unknown => (Array.isArray(v) ? v.map(plain) : typeof v === 'string' ? v.toLowerCase() : v);

t.test('the fast decoder reads every followed event exactly as ethers does', async (t) => {
  iface.forEachEvent((fragment: EventFragment) => {
    t.ok(fastDecodable(fragment), `${fragment.name} takes the fast path`);
    for (const variant of [0, 1]) {
      const values = fragment.inputs.map((p) => sample(p, variant));
      const { data, topics } = iface.encodeEventLog(fragment, values);
      const ours = decoder.decode(fragment, data, topics);
      const theirs = iface.decodeEventLog(fragment, data, topics);
      fragment.inputs.forEach((p, i) => {
        t.same(plain(ours[p.name]), plain(theirs[i] instanceof Object && 'toArray' in theirs[i] ? theirs[i].toArray() : theirs[i]), `${fragment.name}.${p.name} (${variant})`);
      });
    }
  });
});

t.test('malformed data is not guessed at: ethers rejects it', async (t) => {
  const fragment = iface.getEvent('GrantCreated');
  if (!fragment) throw new Error('no GrantCreated');
  const { data, topics } = iface.encodeEventLog(fragment, fragment.inputs.map((p) => sample(p, 0)));
  t.throws(() => decoder.decode(fragment, data.slice(0, 200), topics));
});
