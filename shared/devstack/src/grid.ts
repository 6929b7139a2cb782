/**
 * The demo grid: `id int8 primary key` plus 199 columns c001..c199 cycling through eight types,
 * filled by one INSERT … SELECT over generate_series so PostgreSQL builds 100K × 200 in seconds.
 * Column k has kind GRID_KINDS[k % 8]. The text has NULLs, commas and quotes so CSV output is tested.
 */
export const GRID_KINDS = ["int4", "numeric(12,2)", "text", "timestamptz", "float8", "bool", "int8", "varchar(40)"] as const;
export type GridKind = (typeof GRID_KINDS)[number];

/** Number of columns besides `id`. */
export const GRID_DATA_COLUMNS = 199;

export interface GridColumn {
  readonly name: string;
  readonly type: GridKind;
}

/** Value of column k in row g; `seed` shifts the text columns so each tenant's data differs. */
function expression(kind: GridKind, k: number, seed: number): string {
  switch (kind) {
    case "int4":
      return `((g * ${k}) % 100000)::int4`;
    case "numeric(12,2)":
      return `(((g * ${k}) % 1000000) / 100.0)::numeric(12,2)`;
    case "text":
      return `CASE WHEN (g + ${k}) % 17 = 0 THEN NULL WHEN g % 50 = 0 THEN 'a,"b"' ELSE 'w' || ((g + ${k} + ${seed}) % 997) END`;
    case "timestamptz":
      return `timestamptz '2024-01-01 00:00:00+00' + ((g * ${k}) % 31536000) * interval '1 second'`;
    case "float8":
      return `((g * ${k}) % 10007) / 7.0::float8`;
    case "bool":
      return `(g + ${k}) % 3 = 0`;
    case "int8":
      return `g::int8 * 1000003 * ${k}`;
    case "varchar(40)":
      return `('item ' || ((g * ${k} + ${seed}) % 5000))::varchar(40)`;
    default: {
      const unknown: never = kind;
      throw new Error(`unknown grid column kind ${String(unknown)}`);
    }
  }
}

/** The 199 data columns, c001..c199, in table order (without `id`). */
export function gridColumns(): GridColumn[] {
  return Array.from({ length: GRID_DATA_COLUMNS }, (_, i) => {
    const k = i + 1;
    return { name: `c${String(k).padStart(3, "0")}`, type: GRID_KINDS[k % GRID_KINDS.length] as GridKind };
  });
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
}

/**
 * SQL creating table `grid` (unqualified: it lands in the current search_path) and filling it
 * with `rows` rows. Two statements; run it with a plain `client.query(sql)` and no parameters.
 * `seed` (default 0) shifts the text and varchar values; 0 gives the generator's plain values.
 */
export function gridTableSql(rows: number, seed = 0): string {
  checkInteger("rows", rows, 0);
  checkInteger("seed", seed, 0);
  const columns = gridColumns();
  const definitions = ["id int8 PRIMARY KEY", ...columns.map((c) => `${c.name} ${c.type}`)];
  const values = ["g", ...columns.map((c, i) => expression(c.type, i + 1, seed))];
  return [
    `CREATE TABLE grid (\n  ${definitions.join(",\n  ")}\n);`,
    `INSERT INTO grid\nSELECT\n  ${values.join(",\n  ")}\nFROM generate_series(1::int8, ${rows}::int8) AS g;`,
  ].join("\n");
}
