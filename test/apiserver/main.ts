// Runs the API-server double as its own process (for the lab end-to-end test, the benchmark, or
// trying the Kubernetes path by hand): `node --import tsx test/apiserver/main.ts DIR [PORT]`
// writes DIR/kubeconfig (admin) and DIR/ready (the URL) once it listens; SIGTERM stops it.
// Users for other tokens: DIR/users.json ([{token, name, rules}]) read at start when present.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiServerDouble, type UserDef } from './server';

async function main(): Promise<void> {
  const [dir, port] = process.argv.slice(2);
  if (!dir) throw new Error('usage: main.ts DIR [PORT]');
  const usersFile = join(dir, 'users.json');
  const users = existsSync(usersFile) ? JSON.parse(readFileSync(usersFile, 'utf8')) as UserDef[] : [];
  const d = await ApiServerDouble.start({ users, ...(port ? { port: Number(port) } : {}), bookmarkIntervalMs: 1000 });
  writeFileSync(join(dir, 'kubeconfig'), d.kubeconfig());
  writeFileSync(join(dir, 'ready'), `${d.url}\n`);
  const stop = () => { void d.stop().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`apiserver double: ${(e as Error).message}\n`);
  process.exit(1);
});
