import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_VARS } from "@sluice/config";
import { ERROR_CODES } from "@sluice/protocol";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("README - documents every error code with its message", () => {
    for (const [code, { message }] of Object.entries(ERROR_CODES)) {
      expect(readme, code).toContain(`| \`${code}\` | ${message} |`);
    }
  });

  it("README - documents every environment variable the services read", () => {
    for (const name of ENV_VARS) expect(readme, name).toContain(`| \`${name}\` |`);
  });
});
