import { describe, expect, it } from "vitest";
import { progressText } from "./progress.js";

describe("progressText", () => {
  it("progress - rows, MB and rates; no percent without a total", () => {
    expect(progressText({ rows: 12_345, bytes: 2_500_000, elapsedMs: 500, totalRows: undefined, estimatedRows: undefined })).toEqual({
      rows: "12,345 rows",
      megabytes: "2.5 MB",
      rate: "24,690 rows/s, 5.0 MB/s",
      percent: undefined,
      estimated: false,
    });
  });

  it("progress - percent of a known total, and an empty result is complete", () => {
    expect(progressText({ rows: 50, bytes: 0, elapsedMs: 0, totalRows: 200, estimatedRows: 100 })).toMatchObject({ percent: 25, estimated: false });
    expect(progressText({ rows: 0, bytes: 0, elapsedMs: 0, totalRows: 0, estimatedRows: undefined })).toMatchObject({ percent: 100, rate: "0 rows/s, 0.0 MB/s" });
  });

  it("progress - before the end, a percent of the planner's estimate, marked so and never 100", () => {
    expect(progressText({ rows: 250, bytes: 0, elapsedMs: 0, totalRows: undefined, estimatedRows: 1_000 })).toMatchObject({ percent: 25, estimated: true });
    expect(progressText({ rows: 5_000, bytes: 0, elapsedMs: 0, totalRows: undefined, estimatedRows: 1_000 })).toMatchObject({ percent: 99, estimated: true });
    expect(progressText({ rows: 5, bytes: 0, elapsedMs: 0, totalRows: undefined, estimatedRows: 0 }).percent).toBeUndefined();
  });
});
