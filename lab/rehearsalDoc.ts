/**
 * Writes docs/rehearsal.json and docs/rehearsal.md from a rehearsal's report:
 *
 *   node --import tsx lab/rehearsalDoc.ts <report.json> "<plugins>" "<command>"
 *
 * e.g. after `sudo npm run lab -- --engine pulumi --scenario … --report /tmp/r.json`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RehearsalRecord, renderRehearsalMd } from "./engineReport";
import type { EngineReport } from "./engineRun";

const [reportFile, plugins, command] = process.argv.slice(2);
if (!reportFile || !plugins || !command) {
  process.stderr.write(
    'usage: node --import tsx lab/rehearsalDoc.ts <report.json> "<plugins>" "<command>"\n',
  );
  process.exit(2);
}
const report = JSON.parse(readFileSync(reportFile, "utf8")) as {
  startedAt: string;
  seconds: number;
  engine?: EngineReport;
};
if (report.engine === undefined) {
  process.stderr.write(`${reportFile}: not a rehearsal (--engine pulumi) report\n`);
  process.exit(2);
}
const record: RehearsalRecord = {
  date: report.startedAt.slice(0, 10),
  plugins,
  command,
  seconds: report.seconds,
  engine: report.engine,
};
const docs = join(__dirname, "..", "docs");
writeFileSync(join(docs, "rehearsal.json"), `${JSON.stringify(record, null, 2)}\n`);
writeFileSync(join(docs, "rehearsal.md"), renderRehearsalMd(record));
