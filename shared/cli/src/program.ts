import type { Writable } from "node:stream";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { WebSocketConstructor } from "@sluice/client";
import { SluiceError, formatSchema, type Format } from "@sluice/protocol";
import { exportCommand } from "./export-command.js";
import type { ProgressStream } from "./progress.js";
import { mintToken, parseDuration, parseList } from "./token-command.js";

/** Everything the CLI takes from its process; main.ts passes the real ones, tests fakes. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable & ProgressStream;
  WebSocket: WebSocketConstructor;
  /** Aborted on SIGINT: a running export is cancelled and its file discarded. */
  signal?: AbortSignal;
}

/** Exit codes: 0 success, 1 failure, 2 bad usage, 130 interrupted. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

interface ExportFlags {
  param?: Record<string, string>;
  url: string;
  token?: string;
  format: Format;
  out?: string;
  quiet?: boolean;
}

interface TokenFlags {
  tenant: string;
  sub: string;
  ttl: number;
  datasets?: string[];
}

/** Runs the CLI on `argv` (arguments after the program name); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await createProgram(io).parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIo): number {
  // Commander has already printed its own usage errors.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (io.signal?.aborted === true) {
    io.stderr.write("sluice: interrupted\n");
    return EXIT.interrupted;
  }
  const reason = error instanceof SluiceError ? `${error.code}: ${error.message}` : errorMessage(error);
  io.stderr.write(`sluice: ${reason}\n`);
  return EXIT.failure;
}

/** The commander program; its usage errors throw CommanderError instead of exiting. */
export function createProgram(io: CliIo): Command {
  const program = new Command("sluice")
    .description("Stream PostgreSQL query results from a Sluice edge")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, "sluice: ")),
    });

  program
    .command("export")
    .description("export a dataset as CSV (with header) or NDJSON")
    .argument("<dataset>", "dataset name")
    .option("-p, --param <name=value>", "query parameter, repeatable", collectParam)
    .option("--url <url>", "edge websocket URL", parseUrl, "ws://localhost:8080")
    .option("--token <jwt>", "token (default: env SLUICE_TOKEN)")
    .addOption(new Option("--format <format>", "output format").choices(formatSchema.options).default("csv"))
    .option("-o, --out <file>", "output file (default: standard output)")
    .option("-q, --quiet", "no progress line and no summary")
    .action(async (dataset: string, flags: ExportFlags, command: Command) => {
      const token = flags.token ?? io.env["SLUICE_TOKEN"];
      if (token === undefined || token === "") {
        command.error("sluice: no token: pass --token or set SLUICE_TOKEN", { exitCode: EXIT.usage, code: "sluice.usage" });
      }
      const options = { dataset, params: flags.param ?? {}, url: flags.url, token, format: flags.format, quiet: flags.quiet === true };
      await exportCommand(flags.out === undefined ? options : { ...options, out: flags.out }, io);
    });

  program
    .command("token")
    .description("mint a development token signed with env SLUICE_JWT_SECRET")
    .requiredOption("--tenant <tenant>", "tenant claim")
    .option("--sub <sub>", "subject claim", "dev")
    .option("--ttl <duration>", "lifetime, e.g. 90s, 15m, 1h, 7d", parseTtl, 3600)
    .option("--datasets <list>", "datasets claim, comma separated", parseList)
    .action(async (flags: TokenFlags, command: Command) => {
      const secret = io.env["SLUICE_JWT_SECRET"];
      if (secret === undefined || secret === "") {
        command.error("sluice: SLUICE_JWT_SECRET is not set: it must hold the edge's JWT secret", {
          exitCode: EXIT.usage,
          code: "sluice.usage",
        });
      }
      const token = await mintToken({ secret, tenant: flags.tenant, sub: flags.sub, ttlSeconds: flags.ttl, datasets: flags.datasets });
      io.stdout.write(`${token}\n`);
    });

  return program;
}

function collectParam(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = text.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("Expected name=value.");
  const name = text.slice(0, at);
  if (Object.hasOwn(previous, name)) throw new InvalidArgumentError(`Parameter "${name}" is given twice.`);
  return { ...previous, [name]: text.slice(at + 1) };
}

function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError("Expected a ws:// or wss:// URL.");
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new InvalidArgumentError("Expected a ws:// or wss:// URL.");
  return text;
}

function parseTtl(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) throw new InvalidArgumentError("Expected a duration such as 90s, 15m, 1h or 7d.");
  return seconds;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
