import type { Format } from "@sluice/protocol";

/** A result column as PostgreSQL describes it. */
export interface ColumnInfo {
  readonly name: string;
  /** format_type(): the type as a user would write it, e.g. numeric(12,2). */
  readonly type: string;
  /** typname of the column's base type (domains resolved), e.g. int8, _text. */
  readonly base: string;
  /** pg_type.typcategory of the base type. */
  readonly category: string;
  /** typname of an array's element type, else null. */
  readonly element: string | null;
}

/*
 * PostgreSQL encodes each row into one text value, so the rows cross into Node as one string per
 * row and no JavaScript runs per field. The CSV is what COPY … (FORMAT csv) writes; NDJSON is one
 * object per row with the typing documented in docs/protocol.md.
 *
 * concat() renders each value with its type's output function (as COPY does) and renders NULL as
 * the empty string; it takes at most 100 arguments, so long rows are several concat()s joined.
 */

/** Types whose text output never needs CSV quoting: never empty and no , " CR or LF. */
const CSV_PLAIN = new Set([
  "int2", "int4", "int8", "oid", "float4", "float8", "numeric", "bool",
  "date", "time", "timetz", "timestamp", "timestamptz", "interval", "uuid",
]);
/** Types whose ::text cast is not their output function (it trims, re-formats or adds a mask). */
const CAST_DIFFERS = new Set(["bool", "bpchar", "char", "name", "inet", "cidr"]);
const JSON_NUMBER = new Set(["int2", "int4", "oid"]);
const JSON_FLOAT = new Set(["float4", "float8"]);
const JSON_EXACT = new Set(["int8", "numeric", "money"]);
/** Output is plain ASCII with no quote, backslash or control character: safe between quotes. */
const JSON_PLAIN_STRING = new Set(["date", "time", "timetz", "timestamp", "timestamptz", "interval", "uuid"]);
const MAX_CONCAT_ARGS = 100;
const CSV_SPECIAL = `'[",\r\n]'`;

export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function isNullTest(ref: string, column: ColumnInfo): string {
  // A composite whose fields are all NULL "IS NULL" but COPY still prints it; num_nulls() does not look inside.
  return column.category === "C" ? `num_nulls(${ref}) = 1` : `${ref} IS NULL`;
}

function asText(ref: string, column: ColumnInfo): string {
  if (column.base === "text" || column.base === "varchar") return ref;
  return CAST_DIFFERS.has(column.base) ? `concat(${ref})` : `${ref}::text`;
}

function csvField(ref: string, column: ColumnInfo, singleColumn: boolean): string {
  if (CSV_PLAIN.has(column.base)) return ref;
  const v = asText(ref, column);
  const dot = singleColumn ? ` OR ${v} = '\\.'` : "";
  return (
    `CASE WHEN ${isNullTest(ref, column)} THEN NULL WHEN ${v} = '' OR ${v} ~ ${CSV_SPECIAL}${dot} ` +
    `THEN '"' || replace(${v}, '"', '""') || '"' ELSE ${v} END`
  );
}

function jsonValue(ref: string, column: ColumnInfo): string {
  const { base, element } = column;
  if (base === "bool") return `CASE WHEN ${ref} THEN 'true' WHEN NOT ${ref} THEN 'false' ELSE 'null' END`;
  if (JSON_NUMBER.has(base)) return `coalesce(${ref}::text, 'null')`;
  if (JSON_FLOAT.has(base)) {
    return `CASE WHEN ${ref} IS NULL THEN 'null' WHEN ${ref} IN ('NaN', 'Infinity', '-Infinity') THEN '"' || ${ref}::text || '"' ELSE ${ref}::text END`;
  }
  if (JSON_EXACT.has(base) || JSON_PLAIN_STRING.has(base)) return `coalesce('"' || ${ref}::text || '"', 'null')`;
  // jsonb prints on one line; json keeps its input's line breaks, which (outside strings, the only
  // place JSON allows them raw) are whitespace and become spaces so each row stays one line.
  if (base === "jsonb") return `coalesce(${ref}::text, 'null')`;
  if (base === "json") return `coalesce(translate(${ref}::text, E'\\n\\r', '  '), 'null')`;
  // Composites are strings of their text output, like every type without a JSON counterpart.
  if (column.category === "C") return `CASE WHEN ${isNullTest(ref, column)} THEN 'null' ELSE to_json(${ref}::text)::text END`;
  if (element !== null && JSON_EXACT.has(element)) return `coalesce(to_json(${ref}::text[])::text, 'null')`;
  return `CASE WHEN ${isNullTest(ref, column)} THEN 'null' ELSE to_json(${ref})::text END`;
}

function concatAll(parts: string[]): string {
  const groups: string[] = [];
  for (let i = 0; i < parts.length; i += MAX_CONCAT_ARGS) {
    groups.push(`concat(${parts.slice(i, i + MAX_CONCAT_ARGS).join(", ")})`);
  }
  return groups.length === 0 ? "''" : groups.join(" || ");
}

function csvLine(columns: readonly ColumnInfo[]): string {
  const parts: string[] = [];
  columns.forEach((column, i) => {
    if (i > 0) parts.push("','");
    parts.push(csvField(`s.c${i + 1}`, column, columns.length === 1));
  });
  return concatAll(parts);
}

function jsonLine(columns: readonly ColumnInfo[]): string {
  const parts: string[] = [];
  columns.forEach((column, i) => {
    parts.push(sqlLiteral(`${i === 0 ? "{" : ","}${JSON.stringify(column.name)}:`));
    parts.push(jsonValue(`s.c${i + 1}`, column));
  });
  parts.push(columns.length === 0 ? "'{}'" : "'}'");
  return concatAll(parts);
}

/**
 * The dataset's SQL wrapped so each row comes back as one text value in the requested format,
 * plus, when `keyIndex` is given, that column as text (the keyset position of the row).
 * The dataset's columns are renamed positionally (c1, c2, …) so any names, even duplicates, work.
 */
export interface KeyColumn {
  /** Position of the key among the columns. */
  readonly index: number;
  /** `$n` holding the last key already sent: only rows after it are read (keyset continuation). */
  readonly afterParam?: number;
}

export function encodedQuery(sql: string, columns: readonly ColumnInfo[], format: Format, key?: KeyColumn): string {
  const line = format === "csv" ? csvLine(columns) : jsonLine(columns);
  const aliases = columns.map((_, i) => `c${i + 1}`).join(", ");
  if (key === undefined) return `SELECT ${line} FROM (${sql}\n) AS s(${aliases})`;
  const ref = `s.c${key.index + 1}`;
  const type = columns[key.index]?.type ?? "text";
  const after = key.afterParam === undefined ? "" : ` WHERE ${ref} > $${key.afterParam}::${type} ORDER BY ${ref}`;
  return `SELECT ${line}, ${ref}::text FROM (${sql}\n) AS s(${aliases})${after}`;
}

/**
 * The dataset's query wrapped as a subquery; with `LIMIT 0` (the default) it returns the columns
 * without reading a row.
 */
export function describeQuery(sql: string, options: { limit: boolean } = { limit: true }): string {
  return `SELECT * FROM (${sql}\n) AS s${options.limit ? " LIMIT 0" : ""}`;
}

/** Resolves type names for the described fields, in order. $1 = oids, $2 = typmods. */
export const TYPE_INFO_SQL = `
SELECT format_type(u.oid, u.typmod) AS type, b.typname AS base, b.typcategory AS category, e.typname AS element
FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(oid, typmod, i)
JOIN pg_catalog.pg_type t ON t.oid = u.oid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
ORDER BY u.i`;
