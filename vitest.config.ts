import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["shared/**/src/**/*.test.ts", "services/**/src/**/*.test.ts", "apps/**/src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    // Starts PostgreSQL and NATS containers once per run when a Docker engine answers.
    globalSetup: ["test/fixtures/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores, and system tests start real processes: one test file at a time.
    fileParallelism: false,
  },
});
