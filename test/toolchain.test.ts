import t from 'tap';

t.test('tests run on Node 24 LTS from the pinned npm package', async (t) => {
  t.match(process.version, /^v24\./);
});
