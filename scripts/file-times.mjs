// A node:test reporter that sums the time of each test file's top-level tests and prints one line
// per file, slowest first, so a maintainer sees where the suite's minutes go (scripts/test.mjs
// prints it after the run). Hook time outside a describe is not counted; a describe's is.
export default async function* fileTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0) continue;
    const file = event.data.file ?? '(unknown file)';
    const f = byFile.get(file) ?? { ms: 0, tests: 0, failed: 0 };
    f.ms += event.data.details.duration_ms ?? 0;
    f.tests += 1;
    if (event.type === 'test:fail') f.failed += 1;
    byFile.set(file, f);
  }
  const rows = [...byFile].sort((a, b) => b[1].ms - a[1].ms);
  const cwd = `${process.cwd()}/`;
  for (const [file, f] of rows) {
    const name = file.startsWith(cwd) ? file.slice(cwd.length) : file;
    yield `${(f.ms / 1000).toFixed(1).padStart(7)}s  ${String(f.tests).padStart(3)} top-level${f.failed ? `, ${f.failed} failed` : ''}  ${name}\n`;
  }
}
