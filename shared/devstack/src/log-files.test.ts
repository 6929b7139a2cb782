import { describe, expect, test } from "vitest";
import { isLoudLine } from "./log-files.js";

describe("isLoudLine", () => {
  test("isLoudLine - warnings, errors and non-JSON output are loud; info is not", () => {
    expect(isLoudLine(JSON.stringify({ level: 30, msg: "ok" }))).toBe(false);
    expect(isLoudLine(JSON.stringify({ level: 40, msg: "hm" }))).toBe(true);
    expect(isLoudLine(JSON.stringify({ level: "error", msg: "no" }))).toBe(true);
    expect(isLoudLine("Error: boom\n    at x")).toBe(true);
    expect(isLoudLine("   ")).toBe(false);
  });
});
