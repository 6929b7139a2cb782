#!/usr/bin/env node
// The `sluice` executable: wires the process's streams, environment and signals into the CLI.
import { WebSocket } from "ws";
import { run } from "./program.js";

const interrupt = new AbortController();
// The first Ctrl-C cancels the export cleanly; a second one kills the process.
process.once("SIGINT", () => interrupt.abort());

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  WebSocket,
  signal: interrupt.signal,
});
