/**
 * The naive baseline, run as its own process by the bench: one Node process reads the query with
 * pg-cursor, lets pg parse every field, and JSON-encodes the rows. Prints {"ms","peakRssMb","bytes"}.
 * Usage: node bench-cursor.js <database-url> <schema> <sql>
 */
import pg from "pg";
import Cursor from "pg-cursor";
import { peakRssMb } from "./proc-stats.js";

const [url, schema, sql] = process.argv.slice(2);
if (!url || !schema || !sql) throw new Error("usage: bench-cursor <database-url> <schema> <sql>");
const client = new pg.Client({ connectionString: url });
await client.connect();
await client.query(`SET search_path = ${pg.escapeIdentifier(schema)}`);
const started = performance.now();
const cursor = client.query(new Cursor(sql));
let bytes = 0;
for (;;) {
  const rows = await cursor.read(1000);
  for (const row of rows) bytes += JSON.stringify(row).length + 1;
  if (rows.length < 1000) break;
}
const ms = performance.now() - started;
await cursor.close();
await client.end();
process.stdout.write(`${JSON.stringify({ ms, bytes, peakRssMb: peakRssMb(process.pid) })}\n`);
