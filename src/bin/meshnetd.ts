import { main } from '../daemon/main';

main(process.argv.slice(2)).then((code) => { process.exit(code); }, (e) => {
  process.stderr.write(`meshnetd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
