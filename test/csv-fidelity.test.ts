import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseCsvRows } from "@sluice/protocol";
import { runCli } from "./fixtures/cli.js";
import { useTestStack } from "./fixtures/stack.js";

/**
 * What the CLI writes is what PostgreSQL itself would write: CSV byte for byte as
 * COPY … (FORMAT csv, HEADER true), and NDJSON with each value typed as documented.
 */

const TENANT = "acme";

const AWKWARD_SQL = "SELECT * FROM awkward ORDER BY id";
const SINGLE_SQL = "SELECT v FROM single ORDER BY id";
const SINGLE_DOT_NAME_SQL = 'SELECT v AS "\\." FROM single ORDER BY id';
const NAMES_SQL = `SELECT 1 AS "a,b", 'v' AS "x""y", 2 AS "new
line", 3 AS " sp ", 4 AS "\\.", NULL::text AS "NULL", 5 AS "é", 6 AS """"`;
const WIDE_SQL = "SELECT id, v FROM wide ORDER BY id";
const PRETTY_JSON_SQL = "SELECT id, j FROM pretty_json ORDER BY id";
const COMPOSITE_SQL = "SELECT id, p FROM awkward WHERE id IN (1, 2, 3) ORDER BY id";

// Standard-conforming strings: a backslash is a backslash unless in E'…'.
const SETUP_SQL = String.raw`
CREATE SCHEMA acme;
SET search_path TO acme;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy, "very"');
CREATE TYPE pair AS (label text, n int4);
CREATE TABLE awkward (
  id int4, t text, vc varchar(20), ch char(5), i2 int2, i4 int4, i8 int8, num numeric, f4 float4, f8 float8,
  b bool, d date, ts timestamp, tstz timestamptz, iv interval, tm time, u uuid, by bytea, ip inet,
  ta text[], ia int8[], j json, jb jsonb, p pair, m mood
);
INSERT INTO awkward VALUES
(1, NULL, 'plain', 'ab', 0, 0, 0, 0, 0, 0, true, '2024-02-29', '2024-01-01 00:00:00', '2024-01-01 00:00:00+00',
 '0', '00:00', '00000000-0000-0000-0000-000000000000', '\x', '0.0.0.0', '{}', '{}', '{}', '{}', ROW(NULL, NULL), 'sad'),
(2, '', '', '', 32767, 2147483647, 9223372036854775807,
 '123456789012345678901234567890.123456789012345678901234567890', 'NaN', 'NaN', false, '0044-03-15 BC',
 '1999-12-31 23:59:59.999999', '2024-06-30 23:59:59.999999+14', '1 year 2 mons 3 days 04:05:06.789', '23:59:59.999999',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff00', '192.168.0.1/24', '{"a,b",NULL,"x\"y","",NULL}',
 '{9223372036854775807,NULL,-9223372036854775808}',
 '{"a":[1,2,{"b":null}],"esc":"\u00e9\n\"q\"","u":"\ud83d\ude00","nul":"\u0000"}',
 '{"a":[1,2,{"b":null}],"esc":"\u00e9\n\"q\"","u":"\ud83d\ude00"}', ROW('x,y "z"', 1), 'happy, "very"'),
(3, 'say "hi"', 'a,b', 'a', -32768, -2147483648, -9223372036854775808, 'NaN', 'Infinity', '-Infinity', NULL,
 'infinity', 'infinity', '-infinity', '-1 days +02:03:04', '24:00:00', NULL, '\x5c2e0d0a', '::1',
 '{"\\.","NULL",null}', NULL, '[]', '[]', ROW('', NULL), 'ok'),
(4, E'line1\nline2', E'cr\rlf', 'a b', 1, -1, 9007199254740993, '-0.000000000000000000000000000001', '-0', '-0', true,
 '2000-01-01', '2000-01-01 00:00:00', '2000-01-01 12:00:00-09:30', '1 mon -1 days', '12:00',
 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', '\x', '2001:db8::1/64', E'{" lead","trail ","multi\nline"}', '{1,2,3}',
 '"a string"', '"a string"', ROW(NULL, 0), NULL),
(5, E'crlf\r\nend', E'\r\n', 'abcde', NULL, NULL, NULL, 'Infinity', '3.4028235e+38', '1.7976931348623157e+308', false,
 '1970-01-01', '1970-01-01 00:00:00.000001', '2024-03-10 02:30:00 America/New_York', '-1 years -2 mons', '00:00:00.000001',
 NULL, NULL, '10.0.0.1', '{""}', '{-1}', 'null', 'null', NULL, 'ok'),
(6, '  padded  ', ' ', ' ', NULL, NULL, -1, '-Infinity', '1.4e-45', '1e-300', NULL, NULL, NULL,
 '2024-01-01 00:00:00 Asia/Kolkata', NULL, NULL, NULL, NULL, NULL, '{"a b"}', NULL, '1e400', '1.5', NULL, 'sad'),
(7, '😀 e' || chr(769) || ' ñ 中文 ﷺ ' || chr(8232), 'ünïcödé', 'ß', NULL, NULL, NULL, '0.1', '0.1', '0.1', true,
 NULL, NULL, '1900-01-01 00:00:00+01:30', NULL, NULL, NULL, '\xe29c93', NULL, '{"😀","é"}', NULL,
 '{"k\u00e9y":"v\u00e9"}', '{"k\u00e9y":"v\u00e9"}', ROW('é', -1), NULL),
(8, '\.', '\.', '\.', NULL, NULL, NULL, NULL, NULL, '5e-324', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x5c2e', NULL,
 '{"\\."}', NULL, '"\\."', '"\\."', ROW('\.', NULL), NULL),
(9, ',', '"', '"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 '{","}', NULL, '[",", "\""]', '[",", "\""]', ROW(',', NULL), NULL),
(10, 'NULL', 'null', 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 '{NULL}', '{NULL}', 'false', 'true', NULL, NULL),
(11, E'tab\there back\\slash', E'\t', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, '123456789012345678901234567890', '-0.0', NULL, NULL),
(12, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL),
(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL),
(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE single (id int4 PRIMARY KEY, v text);
INSERT INTO single VALUES (1, '\.'), (2, ''), (3, NULL), (4, 'x'), (5, '\.x'), (6, ' \.'), (7, '.'), (8, '\'), (9, '"');

-- The first row is larger than the first chunk a worker fills (64 KiB) yet fits the largest (512 KiB).
CREATE TABLE wide (id int4 PRIMARY KEY, v text);
INSERT INTO wide VALUES (1, repeat('a,', 50000)), (2, 'small'), (3, repeat('b', 100000)), (4, 'end');

CREATE TABLE pretty_json (id int4 PRIMARY KEY, j json);
INSERT INTO pretty_json VALUES (1, E'{\n  "pretty": true,\n  "list": [\n    1,\n    2\n  ]\n}'), (2, '{"flat":true}');
`;

const stack = useTestStack({
  workers: 1,
  datasets: {
    awkward: { sql: AWKWARD_SQL },
    single: { sql: SINGLE_SQL },
    single_dot_name: { sql: SINGLE_DOT_NAME_SQL },
    names: { sql: NAMES_SQL },
    wide: { sql: WIDE_SQL },
    pretty_json: { sql: PRETTY_JSON_SQL },
    composite: { sql: COMPOSITE_SQL },
  },
  setup: async (db) => {
    await db.query(SETUP_SQL);
  },
});

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-fidelity-"));
});
afterAll(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

/** Runs `sluice export <dataset>` as a real process and returns the file it wrote. */
async function exportFile(dataset: string, format: "csv" | "ndjson"): Promise<Buffer> {
  const s = stack();
  const out = join(dir, `${dataset}.${format}`);
  await rm(out, { force: true });
  const token = await s.token(TENANT);
  const run = await runCli(["export", dataset, "--url", s.url, "--token", token, "--format", format, "--out", out, "--quiet"]);
  expect(run.code, `sluice export ${dataset} --format ${format} failed: ${run.stderr}`).toBe(0);
  return readFile(out);
}

/** Byte equality; a failure shows a text diff, or for big files the bytes around the first difference. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  if (Buffer.compare(actual, expected) === 0) return;
  if (actual.length + expected.length < 64 * 1024) expect(actual.toString("utf8")).toBe(expected.toString("utf8"));
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const around = (b: Buffer): string => b.subarray(Math.max(0, at - 40), at + 40).toString("utf8");
  expect({ bytes: actual.length, firstDifference: at, around: around(actual) }).toEqual({
    bytes: expected.length,
    firstDifference: at,
    around: around(expected),
  });
}

async function expectCsvLikeCopy(dataset: string, sql: string): Promise<Buffer> {
  const [file, copy] = await Promise.all([exportFile(dataset, "csv"), stack().copyCsv(TENANT, sql)]);
  expectSameBytes(file, copy);
  return file;
}

describe("csv fidelity", () => {
  test("csv - awkward values of every type match COPY … CSV HEADER byte for byte", async () => {
    const file = await expectCsvLikeCopy("awkward", AWKWARD_SQL);
    // Read back, the CSV gives PostgreSQL's text of every value, NULL and '' kept apart.
    const { columns, rows } = await stack().tenantRows(TENANT, AWKWARD_SQL);
    expect(rows).toHaveLength(14);
    const [header, ...body] = parseCsvRows(file.toString("utf8"));
    expect(header).toEqual(columns);
    expect(body).toEqual(rows);
  });

  test("csv - a single column quotes \\. and '' as COPY does (rows and header)", async () => {
    const file = await expectCsvLikeCopy("single", SINGLE_SQL);
    expect(file.toString("utf8").split("\n").slice(0, 4)).toEqual(["v", '"\\."', '""', ""]);
    const named = await expectCsvLikeCopy("single_dot_name", SINGLE_DOT_NAME_SQL);
    expect(named.toString("utf8").split("\n")[0]).toBe('"\\."');
  });

  test("csv - column names that need quoting are quoted in the header as COPY does", async () => {
    const file = await expectCsvLikeCopy("names", NAMES_SQL);
    expect(file.toString("utf8").startsWith('"a,b","x""y","new\nline", sp ,\\.,NULL,é,""""\n')).toBe(true);
  });

  test("csv - a first row larger than the first chunk (64 KiB) arrives whole", async () => {
    const file = await expectCsvLikeCopy("wide", WIDE_SQL);
    expect(file.length).toBeGreaterThan(200_000);
  });

  test("csv - json written over several lines stays one quoted field", async () => {
    await expectCsvLikeCopy("pretty_json", PRETTY_JSON_SQL);
  });
});

/** Columns of the awkward table with the PostgreSQL type each value is judged by. */
async function columnTypes(): Promise<Map<string, { type: string; element: string | null }>> {
  const result = await stack().sql<{ name: string; type: string; element: string | null }>(
    `SELECT a.attname AS name, t.typname AS type, e.typname AS element
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
     WHERE a.attrelid = 'acme.awkward'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  );
  return new Map(result.rows.map((r) => [r.name, { type: r.type, element: r.element }]));
}

/** Elements of a one-dimensional array's text output: NULL as null, quoted elements unescaped. */
function arrayElements(text: string): (string | null)[] {
  if (!text.startsWith("{") || !text.endsWith("}")) throw new Error(`not a one-dimensional array: ${text}`);
  const body = text.slice(1, -1);
  const elements: (string | null)[] = [];
  let i = 0;
  while (i < body.length) {
    if (body[i] === '"') {
      let value = "";
      i++;
      while (body[i] !== '"') {
        if (body[i] === "\\") i++;
        value += body[i] ?? "";
        i++;
      }
      elements.push(value);
      i++;
    } else {
      const end = body.indexOf(",", i) === -1 ? body.length : body.indexOf(",", i);
      const value = body.slice(i, end);
      if (value.startsWith("{")) throw new Error(`not a one-dimensional array: ${text}`);
      elements.push(value === "NULL" ? null : value);
      i = end;
    }
    if (body[i] === ",") i++;
  }
  return elements;
}

const FLOAT_WORDS = new Set(["NaN", "Infinity", "-Infinity"]);

/**
 * The JSON value the documented NDJSON typing gives PostgreSQL's text output of a `type` value:
 * int8/numeric as strings of the exact text; int2/int4/float as numbers (NaN and infinities as
 * strings); bool as true/false; json/jsonb as JSON; arrays as arrays; anything else the text.
 */
function expectedJson(text: string | null, type: string, element: string | null): unknown {
  if (text === null) return null;
  if (element !== null) return arrayElements(text).map((e) => expectedJson(e, element, null));
  switch (type) {
    case "bool":
      return text === "t";
    case "int2":
    case "int4":
      return Number(text);
    case "float4":
    case "float8":
      return FLOAT_WORDS.has(text) ? text : Number(text);
    case "json":
    case "jsonb":
      return JSON.parse(text) as unknown;
    default:
      return text;
  }
}

/** Deep equality that tells -0 from 0, as a JSON consumer would see them. */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return a === b;
}

function ndjsonLines(file: Buffer): string[] {
  const text = file.toString("utf8");
  expect(text.endsWith("\n"), "NDJSON ends with a line feed").toBe(true);
  return text.slice(0, -1).split("\n");
}

describe("ndjson fidelity", () => {
  test("ndjson - every awkward value has its documented JSON type and PostgreSQL's exact text", async () => {
    const [file, expected, types] = await Promise.all([
      exportFile("awkward", "ndjson"),
      stack().tenantRows(TENANT, AWKWARD_SQL),
      columnTypes(),
    ]);
    const lines = ndjsonLines(file);
    expect(lines).toHaveLength(expected.rows.length);
    const mismatches: { row: number; column: string; type: string; postgres: string | null; expected: unknown; got: unknown }[] = [];
    lines.forEach((line, r) => {
      const object = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(object)).toEqual(expected.columns);
      expected.columns.forEach((column, c) => {
        const { type, element } = types.get(column) ?? { type: "?", element: null };
        const postgres = expected.rows[r]?.[c] ?? null;
        const want = expectedJson(postgres, type, element);
        if (!sameJson(object[column], want)) mismatches.push({ row: r + 1, column, type, postgres, expected: want, got: object[column] });
      });
    });
    expect(mismatches).toEqual([]);
  });

  test("ndjson - a composite value is a string: its text output", async () => {
    const [file, expected] = await Promise.all([exportFile("composite", "ndjson"), stack().tenantRows(TENANT, COMPOSITE_SQL)]);
    const got = ndjsonLines(file).map((line) => (JSON.parse(line) as { p: unknown }).p);
    expect(expected.rows.map((row) => row[1])).toEqual(["(,)", '("x,y ""z""",1)', '("",)']);
    expect(got).toEqual(expected.rows.map((row) => row[1]));
  });

  test("ndjson - a json value written over several lines stays on its row's one line", async () => {
    const file = await exportFile("pretty_json", "ndjson");
    const lines = ndjsonLines(file);
    expect(lines).toHaveLength(2);
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { id: 1, j: { pretty: true, list: [1, 2] } },
      { id: 2, j: { flat: true } },
    ]);
  });

  test("ndjson - the single-column and quoted-name datasets keep their values and names", async () => {
    const single = ndjsonLines(await exportFile("single", "ndjson")).map((line) => JSON.parse(line) as unknown);
    expect(single).toEqual([{ v: "\\." }, { v: "" }, { v: null }, { v: "x" }, { v: "\\.x" }, { v: " \\." }, { v: "." }, { v: "\\" }, { v: '"' }]);
    const names = ndjsonLines(await exportFile("names", "ndjson")).map((line) => JSON.parse(line) as unknown);
    expect(names).toEqual([{ "a,b": 1, 'x"y': "v", "new\nline": 2, " sp ": 3, "\\.": 4, NULL: null, é: 5, '"': 6 }]);
  });
});
