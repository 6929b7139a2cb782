import { describe, expect, it } from "vitest";
import { progressText } from "./progress.js";

describe("progressText", () => {
  it("progress - rows, MB and rates; no percent without a total", () => {
    expect(progressText({ rows: 12_345, bytes: 2_500_000, elapsedMs: 500, totalRows: undefined })).toEqual({
      rows: "12,345 rows",
      megabytes: "2.5 MB",
      rate: "24,690 rows/s, 5.0 MB/s",
      percent: undefined,
    });
  });

  it("progress - percent of a known total, and an empty result is complete", () => {
    expect(progressText({ rows: 50, bytes: 0, elapsedMs: 0, totalRows: 200 }).percent).toBe(25);
    expect(progressText({ rows: 0, bytes: 0, elapsedMs: 0, totalRows: 0 })).toMatchObject({ percent: 100, rate: "0 rows/s, 0.0 MB/s" });
  });
});
