/**
 * `npm run bench`: runs every bench/*.ts (except this file) one after another, each in its own
 * process, passing extra arguments through, and reports which ones failed.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const benches = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run-all.ts').sort();
const failed: string[] = [];
for (const bench of benches) {
  console.log(`\n## bench/${bench}`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [join(dir, bench), ...process.argv.slice(2)], { stdio: 'inherit' });
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) failed.push(bench);
}
console.log(`\n${benches.length - failed.length} of ${benches.length} benchmarks ran${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length ? 1 : 0;
