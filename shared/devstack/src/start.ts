import { randomBytes } from "node:crypto";
import { join, relative } from "node:path";
import { loadConfig } from "@sluice/config";
import { DemoServer, demoDatasets, demoPageDir } from "./demo-server.js";
import { DevstackError } from "./errors.js";
import { freePort, portIsFree } from "./free-port.js";
import { LogFiles } from "./log-files.js";
import { repoRoot, stateDir } from "./paths.js";
import { startStack, type Stack } from "./stack.js";
import { mintToken } from "./token.js";

/** The `npm start` entry: a whole local Sluice with demo data, until Ctrl-C or SIGTERM. */

const DEFAULT_EDGE_PORT = 8080;
const DEFAULT_DEMO_PORT = 8081;
const DEMO_TENANT = "acme";

interface StartSettings {
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  readonly jwtSecret: string | undefined;
  readonly edgePort: number | undefined;
  readonly demoPort: number | undefined;
  readonly natsPrefix: string;
  readonly rows: number | undefined;
}

function optionalInteger(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function readSettings(env: NodeJS.ProcessEnv): StartSettings {
  const blankToUndefined = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  return {
    databaseUrl: blankToUndefined("DATABASE_URL"),
    natsUrl: blankToUndefined("NATS_URL"),
    jwtSecret: blankToUndefined("SLUICE_JWT_SECRET"),
    edgePort: optionalInteger(env, "SLUICE_EDGE_PORT", 1, 65_535),
    demoPort: optionalInteger(env, "SLUICE_DEMO_PORT", 1, 65_535),
    natsPrefix: blankToUndefined("SLUICE_NATS_PREFIX") ?? "sluice",
    rows: optionalInteger(env, "SLUICE_DEMO_ROWS", 1, 100_000_000),
  };
}

function say(message: string): void {
  process.stdout.write(`sluice: ${message}\n`);
}

async function choosePort(what: string, given: number | undefined, preferred: number, variable: string): Promise<number> {
  if (given !== undefined) return given;
  if (await portIsFree(preferred)) return preferred;
  const port = await freePort();
  say(`port ${preferred} is taken; the ${what} listens on ${port} instead (set ${variable} to choose)`);
  return port;
}

/** Serves the browser demo with a token of its own; the page never sees the secret. */
async function startDemo(stack: Stack, token: string, port: number, root: string): Promise<DemoServer | undefined> {
  try {
    const config = loadConfig(stack.configPath, { env: { DATABASE_URL: stack.databaseUrl }, databaseUrls: "optional" });
    const settings = { url: `ws://localhost:${stack.edge.port}`, token, tenant: DEMO_TENANT, datasets: demoDatasets(config) };
    return await DemoServer.start({ pageDir: demoPageDir(root), settings, port });
  } catch (error) {
    report(error);
    return undefined;
  }
}

function printInstructions(stack: Stack, demo: DemoServer | undefined, token: string, secret: string, logDir: string): void {
  const url = `ws://localhost:${stack.edge.port}`;
  process.stdout.write(
    [
      "",
      "Sluice is up.",
      ...(demo === undefined ? [] : [`  demo page  ${demo.url}  (open it in a browser)`]),
      `  websocket  ${url}`,
      `  workers    ${stack.workers.map((w) => `${w.name} (pid ${w.pid})`).join(", ")}`,
      `  config     ${relative(process.cwd(), stack.configPath)}`,
      `  logs       ${logDir}`,
      `  token      (tenant ${DEMO_TENANT}, valid 24 h)`,
      `    ${token}`,
      "",
      "Export the demo grid:",
      `  SLUICE_TOKEN=${token} npx sluice export grid --url ${url} --out grid.csv`,
      `  SLUICE_TOKEN=${token} npx sluice export grid --url ${url} --format ndjson --out grid.ndjson`,
      "A token for the other tenant:",
      `  SLUICE_JWT_SECRET=${secret} npx sluice token --tenant globex`,
      "",
      "Press Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
}

/** Resolves with the first of SIGINT/SIGTERM; a second signal exits at once (children get SIGTERM). */
function stopRequested(abort: AbortController): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (abort.signal.aborted) {
        say(`${signal} again: exiting now`);
        process.exit(130);
      }
      say(`${signal}: stopping (press Ctrl-C again to exit at once)…`);
      abort.abort();
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

function firstUnexpectedExit(stack: Stack): Promise<string> {
  const services = [stack.edge, ...stack.workers];
  return Promise.race(services.map((s) => s.exited.then((code) => `${s.name} exited unexpectedly with code ${code}:\n${s.recentOutput()}`)));
}

function report(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `\n(cause: ${error.cause.message})` : "";
  process.stderr.write(`sluice: ${error instanceof DevstackError ? "" : "error: "}${message}${cause}\n`);
}

async function main(): Promise<number> {
  const settings = readSettings(process.env);
  const root = repoRoot();
  const state = stateDir(root);
  const logs = new LogFiles(join(state, "logs"), ["edge", "worker-1", "worker-2"]);
  const abort = new AbortController();
  const stopping = stopRequested(abort);
  const secret = settings.jwtSecret ?? randomBytes(32).toString("base64url");
  let stack: Stack;
  try {
    stack = await startStack({
      root,
      stateDir: state,
      ...(settings.databaseUrl === undefined ? {} : { databaseUrl: settings.databaseUrl }),
      ...(settings.natsUrl === undefined ? {} : { natsUrl: settings.natsUrl }),
      ...(settings.rows === undefined ? {} : { rows: settings.rows }),
      jwtSecret: secret,
      edgePort: await choosePort("edge", settings.edgePort, DEFAULT_EDGE_PORT, "SLUICE_EDGE_PORT"),
      natsPrefix: settings.natsPrefix,
      say,
      onLine: (name, line) => logs.line(name, line),
      signal: abort.signal,
    });
  } catch (error) {
    if (!abort.signal.aborted) report(error);
    await logs.close();
    return abort.signal.aborted ? 130 : 1;
  }
  const token = await mintToken(secret, DEMO_TENANT, { sub: "demo", ttl: "24h" });
  const demoPort = await choosePort("demo page", settings.demoPort, DEFAULT_DEMO_PORT, "SLUICE_DEMO_PORT");
  const demo = await startDemo(stack, token, demoPort, root);
  printInstructions(stack, demo, token, secret, relative(process.cwd(), logs.dir) || ".");
  const outcome = await Promise.race([stopping.then(() => undefined), firstUnexpectedExit(stack)]);
  if (outcome !== undefined) process.stderr.write(`sluice: ${outcome}\nsluice: stopping the rest…\n`);
  await demo?.close();
  await stack.stop();
  say("stopped");
  await logs.close();
  return outcome === undefined ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    report(error);
    process.exit(1);
  },
);
