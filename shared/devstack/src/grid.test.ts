import { describe, expect, test } from "vitest";
import { GRID_KINDS, gridColumns, gridTableSql } from "./grid.js";

describe("grid", () => {
  test("gridColumns - c001..c199 cycle through the eight kinds by k % 8", () => {
    const columns = gridColumns();
    expect(columns).toHaveLength(199);
    expect(columns[0]).toEqual({ name: "c001", type: "numeric(12,2)" });
    expect(columns[7]).toEqual({ name: "c008", type: "int4" });
    expect(columns[198]).toEqual({ name: "c199", type: GRID_KINDS[199 % 8] });
  });

  test("gridTableSql - refuses row counts and seeds that are not non-negative integers", () => {
    expect(() => gridTableSql(-1)).toThrow(RangeError);
    expect(() => gridTableSql(1.5)).toThrow(RangeError);
    expect(() => gridTableSql(10, Number.NaN)).toThrow(RangeError);
  });

  test("gridTableSql - the seed only changes the text and varchar values", () => {
    const plain = gridTableSql(10, 0).split("\n");
    const seeded = gridTableSql(10, 7).split("\n");
    const changed = plain.filter((line, i) => line !== seeded[i]);
    expect(changed.length).toBeGreaterThan(0);
    for (const line of changed) expect(line).toMatch(/'w' \|\||'item ' \|\|/);
  });
});
