import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { join, posix } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ENV_VARS, edgeSettings, parseConfig, workerSettings } from "@sluice/config";
import { createRegistry } from "@sluice/runtime";

// Static checks of deploy/ (no Docker engine here): every rule is a function returning the
// problems it finds, run on the real file and on a deliberately broken copy, so each can fail.

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), "utf8");

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  container_name?: string;
  ports?: (string | number | { published?: string | number })[];
  volumes?: (string | { source?: string; target?: string })[];
  restart?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
}

const compose = parseYaml(read("deploy/compose.yaml"), { merge: true }) as Compose;
const rootPackage = JSON.parse(read("package.json")) as { scripts: Record<string, string>; workspaces: string[] };
/** Env names the services read, plus DATABASE_URL, which sluice.yaml interpolates. */
const KNOWN_ENV = new Set([...ENV_VARS, "DATABASE_URL"]);
/** Values for the variables compose takes from the caller's environment. */
const CALLER_ENV: Record<string, string> = { SLUICE_JWT_SECRET: "a-test-secret-of-32-characters!!" };

function broken<T>(value: T, change: (copy: T) => void): T {
  const copy = structuredClone(value);
  change(copy);
  return copy;
}

/** `npm run edge` → ["node", "services/edge/dist/main.js"]. */
function scriptCommand(name: "edge" | "worker"): string[] {
  const script = rootPackage.scripts[name];
  if (!script) throw new Error(`package.json has no "${name}" script`);
  return script.trim().split(/\s+/);
}

const sameCommand = (a: readonly string[] | string | undefined, b: readonly string[]): boolean =>
  Array.isArray(a) && a.length === b.length && a.every((token, i) => token === b[i]);

// ---- compose -------------------------------------------------------------------------------

/** Replaces compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, as `docker compose` would. */
function interpolate(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, name?: string, op?: string, arg?: string) => {
    if (match === "$$") return "$";
    const found = env[name ?? ""];
    const unset = op?.startsWith(":") ? !found : found === undefined;
    if (!unset) return found ?? "";
    if (op?.endsWith("?")) throw new Error(`${name} is required: ${arg}`);
    return op ? (arg ?? "") : "";
  });
}

const isSluiceService = (s: ComposeService): boolean => s.build?.dockerfile === "deploy/Dockerfile" && s.build.target === "runtime";
const serviceKind = (s: ComposeService): "edge" | "worker" | undefined =>
  sameCommand(s.command, scriptCommand("edge")) ? "edge" : sameCommand(s.command, scriptCommand("worker")) ? "worker" : undefined;
const environmentOf = (s: ComposeService): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));

function envNameProblems(doc: Compose): string[] {
  return Object.entries(doc.services)
    .filter(([, s]) => isSluiceService(s))
    .flatMap(([name, s]) =>
      Object.keys(environmentOf(s))
        .filter((key) => /^SLUICE_|^NATS_URL$|^DATABASE_URL$/.test(key) && !KNOWN_ENV.has(key))
        .map((key) => `${name}: ${key} is not a variable the services read`),
    );
}

/** Each Sluice service's environment passes the service's own settings parser, and its healthcheck probes its port. */
function settingsProblems(doc: Compose): string[] {
  const problems: string[] = [];
  for (const [name, s] of Object.entries(doc.services).filter(([, s]) => isSluiceService(s))) {
    const kind = serviceKind(s);
    if (!kind) {
      problems.push(`${name}: command is neither \`npm run edge\` nor \`npm run worker\``);
      continue;
    }
    try {
      const env = Object.fromEntries(Object.entries(environmentOf(s)).map(([k, v]) => [k, interpolate(v, CALLER_ENV)]));
      const port = kind === "edge" ? edgeSettings(env).port : workerSettings(env).port;
      const probe = Array.isArray(s.healthcheck?.test) ? s.healthcheck.test : [];
      if (!probe.includes("deploy/healthcheck.mjs") || probe.at(-1) !== String(port)) {
        problems.push(`${name}: healthcheck does not probe port ${port}`);
      }
      const config = env.SLUICE_CONFIG;
      const mounted = (s.volumes ?? []).map((v) => (typeof v === "string" ? v.split(":") : [v.source, v.target]));
      const mount = mounted.find(([, target]) => target === config);
      if (!mount?.[0] || !existsSync(join(root, "deploy", mount[0]))) problems.push(`${name}: SLUICE_CONFIG ${config} is not a mounted file of deploy/`);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** One-shot services (restart "no", awaited with service_completed_successfully) may disable theirs. */
function healthcheckProblems(doc: Compose): string[] {
  const awaitedToComplete = new Set(
    Object.values(doc.services).flatMap((s) =>
      Object.entries(Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {}))
        .filter(([, d]) => d.condition === "service_completed_successfully")
        .map(([target]) => target),
    ),
  );
  return Object.entries(doc.services).flatMap(([name, s]) => {
    const test = s.healthcheck?.test;
    const hasTest = Array.isArray(test) ? test.length > 1 && test[0] !== "NONE" : typeof test === "string" && test.length > 0;
    if (hasTest && !s.healthcheck?.disable) return [];
    if (s.healthcheck?.disable && s.restart === "no" && awaitedToComplete.has(name)) return [];
    return [`${name}: no healthcheck`];
  });
}

const CONDITIONS = new Set(["service_healthy", "service_completed_successfully"]);

function dependsOnProblems(doc: Compose): string[] {
  return Object.entries(doc.services).flatMap(([name, s]) => {
    if (Array.isArray(s.depends_on)) return [`${name}: depends_on without conditions`];
    return Object.entries(s.depends_on ?? {}).flatMap(([target, d]) => {
      const other = doc.services[target];
      if (!other) return [`${name}: depends on unknown service ${target}`];
      if (!d.condition || !CONDITIONS.has(d.condition)) return [`${name}: depends on ${target} without a health or completion condition`];
      if (d.condition === "service_healthy" && (!other.healthcheck?.test || other.healthcheck.disable)) return [`${name}: waits for ${target} to be healthy, which has no healthcheck`];
      if (d.condition === "service_completed_successfully" && other.restart !== "no") return [`${name}: waits for ${target} to complete, but it restarts`];
      return [];
    });
  });
}

/** `--scale worker=N` needs no fixed name and no fixed host port. */
function scalableProblems(doc: Compose, name: string): string[] {
  const s = doc.services[name];
  if (!s) return [`no service ${name}`];
  const problems = s.container_name === undefined ? [] : [`${name}: has container_name`];
  for (const port of s.ports ?? []) {
    const published = typeof port === "object" ? port.published : String(port).split(":").length > 1;
    if (published) problems.push(`${name}: publishes a fixed host port (${JSON.stringify(port)})`);
  }
  return problems;
}

/** Secrets only come from the caller's environment; the JWT key has no default at all. */
function secretProblems(doc: Compose): string[] {
  return Object.entries(doc.services).flatMap(([name, s]) =>
    Object.entries(environmentOf(s)).flatMap(([key, value]) => {
      if (key === "SLUICE_JWT_SECRET" && !/^\$\{SLUICE_JWT_SECRET:?\?[^}]*\}$/.test(value)) return [`${name}: SLUICE_JWT_SECRET must be \${SLUICE_JWT_SECRET:?…}`];
      if (/SECRET|PASSWORD|TOKEN/i.test(key) && !/^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$/.test(value)) return [`${name}: ${key} is hard-coded`];
      const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]+:([^@]*)@/i.exec(value)?.[1];
      if (password !== undefined && !/^\$\{[^}]+\}$/.test(password)) return [`${name}: ${key} has a hard-coded password`];
      return [];
    }),
  );
}

describe("deploy/compose.yaml", () => {
  it("compose - parses, with the expected services", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["demo-data", "edge-1", "edge-2", "lb", "nats", "pgbouncer", "postgres", "worker"]);
  });

  it("compose - sets only environment variables the services know", () => {
    expect(envNameProblems(compose)).toEqual([]);
    expect(envNameProblems(broken(compose, (c) => void (c.services.worker!.environment!.SLUICE_WORKER_SLOT = "4")))).toEqual([
      "worker: SLUICE_WORKER_SLOT is not a variable the services read",
    ]);
  });

  it("compose - each service's environment passes its settings parser, and its healthcheck probes its port", () => {
    expect(settingsProblems(compose)).toEqual([]);
    // The edges share one environment (a YAML alias): change one edge's own copy.
    const movedPort = broken(compose, (c) => void (c.services["edge-1"]!.environment = { ...c.services["edge-1"]!.environment, SLUICE_EDGE_PORT: "8081" }));
    expect(settingsProblems(movedPort)).toEqual([
      "edge-1: healthcheck does not probe port 8081",
    ]);
    expect(settingsProblems(broken(compose, (c) => void (c.services.worker!.environment!.SLUICE_WORKER_PORT = "http")))).toHaveLength(1);
    expect(settingsProblems(broken(compose, (c) => void (c.services.worker!.volumes = [])))).toHaveLength(1);
  });

  it("compose - the edges refuse to start without SLUICE_JWT_SECRET", () => {
    const edge = compose.services["edge-1"]!;
    expect(() => interpolate(environmentOf(edge).SLUICE_JWT_SECRET ?? "", {})).toThrow(/SLUICE_JWT_SECRET is required/);
  });

  it("compose - every service has a healthcheck", () => {
    expect(healthcheckProblems(compose)).toEqual([]);
    expect(healthcheckProblems(broken(compose, (c) => void delete c.services.pgbouncer!.healthcheck))).toEqual(["pgbouncer: no healthcheck"]);
  });

  it("compose - every depends_on waits for a health or completion condition", () => {
    expect(dependsOnProblems(compose)).toEqual([]);
    expect(dependsOnProblems(broken(compose, (c) => void (c.services.lb!.depends_on = ["edge-1"])))).toHaveLength(1);
    expect(dependsOnProblems(broken(compose, (c) => void ((c.services.lb!.depends_on as Record<string, object>)["edge-1"] = {})))).toHaveLength(1);
  });

  it("compose - workers scale: no container_name, no fixed host port", () => {
    expect(scalableProblems(compose, "worker")).toEqual([]);
    expect(scalableProblems(broken(compose, (c) => void (c.services.worker!.ports = ["9090:9090"])), "worker")).toHaveLength(1);
    expect(scalableProblems(broken(compose, (c) => void (c.services.worker!.container_name = "worker")), "worker")).toHaveLength(1);
  });

  it("compose - runs the edges and workers with the package.json commands", () => {
    const kinds = Object.values(compose.services).filter(isSluiceService).map(serviceKind);
    expect(kinds.sort()).toEqual(["edge", "edge", "worker"]);
    for (const kind of ["edge", "worker"] as const) expect(existsSync(join(root, scriptCommand(kind)[1] ?? ""))).toBe(true);
  });

  it("compose - no hard-coded secrets", () => {
    expect(secretProblems(compose)).toEqual([]);
    const hardCoded = broken(compose, (c) => void (c.services["edge-2"]!.environment = { ...c.services["edge-2"]!.environment, SLUICE_JWT_SECRET: "0123456789abcdef0123" }));
    expect(secretProblems(hardCoded)).toEqual(["edge-2: SLUICE_JWT_SECRET must be ${SLUICE_JWT_SECRET:?…}"]);
    expect(secretProblems(broken(compose, (c) => void (c.services.worker!.environment!.DATABASE_URL = "postgres://sluice:hunter2@pgbouncer/sluice")))).toHaveLength(1);
  });
});

// ---- Dockerfile ----------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped, ARGs before the first FROM in a "global" stage. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.split("\n").filter((line) => !/^\s*#/.test(line));
  const logical = lines.join("\n").replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter(Boolean);
  const stages: Stage[] = [{ name: "global", from: "", instructions: [] }];
  for (const line of logical) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const [from = "", , name] = args.replace(/--platform=\S+\s+/, "").split(/\s+/);
      stages.push({ name: name ?? String(stages.length - 1), from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const execForm = (args: string): string[] | undefined => {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  } catch {
    return undefined;
  }
};

/** `ENV A=1 B="x y"` → [["A", "1"], ["B", "x y"]]; also the old `ENV A 1` form. */
function envPairs(args: string): [string, string][] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) return [[args.split(/\s+/)[0] ?? "", args.split(/\s+/).slice(1).join(" ")]];
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map((m) => [m[1] ?? "", (m[2] ?? "").replace(/^"|"$/g, "")]);
}

function dockerfileProblems(stages: Stage[]): string[] {
  const problems: string[] = [];
  const final = stages.at(-1);
  if (!final || final.name === "global") return ["no stage"];
  const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
  const cmd = of(final, "CMD").at(-1);
  if (!cmd || !sameCommand(execForm(cmd.args), scriptCommand("edge"))) problems.push("final stage: CMD is not `npm run edge`'s command in exec form");
  if (of(final, "ENTRYPOINT").length > 0) problems.push("final stage: an ENTRYPOINT would change the worker's command override");
  const healthcheck = of(final, "HEALTHCHECK").at(-1);
  if (!healthcheck || /^NONE\b/i.test(healthcheck.args) || !/\bCMD\b/.test(healthcheck.args)) problems.push("final stage: no HEALTHCHECK");
  const user = of(final, "USER").at(-1)?.args.split(":")[0];
  if (!user || user === "root" || user === "0") problems.push("final stage: does not run as a non-root USER");
  if (!of(final, "ENV").some((i) => envPairs(i.args).some(([k, v]) => k === "NODE_ENV" && v === "production"))) problems.push("final stage: NODE_ENV is not production");
  for (const stage of stages) {
    for (const instruction of [...of(stage, "ENV"), ...of(stage, "ARG")]) {
      for (const [key, value] of envPairs(instruction.args)) {
        if (/SECRET|PASSWORD|TOKEN|PRIVATE_KEY/i.test(key) && value !== "") problems.push(`${stage.name}: ${instruction.keyword} ${key} bakes a secret into the image`);
        if (/SECRET|PASSWORD|TOKEN/i.test(key) && value === "") problems.push(`${stage.name}: ${instruction.keyword} ${key} invites a secret at build time`);
      }
    }
  }
  const runs = stages.flatMap((s) => of(s, "RUN").map((i) => i.args));
  if (!runs.some((r) => /\bnpm ci\b(?!.*--omit=dev)/.test(r))) problems.push("no stage runs `npm ci`");
  if (!runs.some((r) => /\bnpm run build\b/.test(r))) problems.push("no stage runs `npm run build`");
  if (!runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))) problems.push("no stage installs production dependencies only");
  const copied = stages.flatMap((s) => of(s, "COPY").map((i) => i.args));
  for (const workspace of rootPackage.workspaces) {
    if (!copied.some((c) => c.split(/\s+/).includes(`${workspace}/package.json`))) problems.push(`workspace ${workspace}: its package.json is not copied before npm ci`);
  }
  const bases = stages.slice(1).map((s) => s.from);
  const nodeImage = of(stages[0] ?? final, "ARG").flatMap((i) => envPairs(i.args)).find(([k]) => k === "NODE_IMAGE")?.[1];
  for (const base of bases) {
    const image = base === "${NODE_IMAGE}" ? nodeImage : base;
    if (image !== "node:22-slim" && !stages.some((s) => s.name === base)) problems.push(`FROM ${base}: not node:22-slim`);
  }
  return problems;
}

/** Sources of COPY instructions that read the build context (not --from another stage). */
function contextSources(stages: Stage[]): string[] {
  return stages.flatMap((s) =>
    s.instructions
      .filter((i) => i.keyword === "COPY" && !/--from=/.test(i.args))
      .flatMap((i) => {
        const parts = execForm(i.args) ?? i.args.split(/\s+/).filter((p) => !p.startsWith("--"));
        return parts.slice(0, -1);
      }),
  );
}

/** Whether .dockerignore leaves `path` out of the build context (patterns with *, ** and !). */
function ignored(path: string, dockerignore: string): boolean {
  let excluded = false;
  for (const raw of dockerignore.split("\n").map((l) => l.trim())) {
    if (!raw || raw.startsWith("#")) continue;
    const negate = raw.startsWith("!");
    const pattern = posix.normalize(raw.replace(/^!/, "").replace(/^\//, "")).replace(/\/$/, "");
    // `**/` matches any number of folders, none included; `*` and `?` stay within one.
    const source = pattern
      .split("**/")
      .map((part) =>
        part
          .split("**")
          .map((piece) => piece.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]"))
          .join(".*"),
      )
      .join("(?:.*/)?");
    const regex = new RegExp(`^${source}(/.*)?$`);
    if (regex.test(path)) excluded = !negate;
  }
  return excluded;
}

function dockerignoreProblems(stages: Stage[], dockerignore: string): string[] {
  const problems = contextSources(stages)
    .map((source) => source.replace(/\/$/, ""))
    .flatMap((source) => {
      if (!existsSync(join(root, source))) return [`COPY ${source}: no such file`];
      return ignored(source, dockerignore) ? [`COPY ${source}: excluded by .dockerignore`] : [];
    });
  for (const path of ["node_modules", "services/edge/node_modules", "shared/config/dist", ".git", ".sluice", ".env", "deploy/.env", "coverage"]) {
    if (!ignored(path, dockerignore)) problems.push(`${path}: not excluded by .dockerignore`);
  }
  return problems;
}

describe("deploy/Dockerfile", () => {
  const stages = parseDockerfile(read("deploy/Dockerfile"));
  const replaceIn = (keyword: string, args: string) =>
    broken(stages, (s) => {
      const final = s.at(-1)!;
      final.instructions.splice(0, final.instructions.length, ...final.instructions.filter((i) => i.keyword !== keyword));
      if (args) final.instructions.push({ keyword, args });
    });

  it("Dockerfile - multi-stage on node:22-slim, non-root, healthcheck, `npm run edge` by default, no secrets", () => {
    expect(stages.map((s) => s.name)).toContain("runtime");
    expect(dockerfileProblems(stages)).toEqual([]);
    expect(dockerfileProblems(replaceIn("CMD", '["node", "services/edge/main.js"]'))).toEqual(["final stage: CMD is not `npm run edge`'s command in exec form"]);
    expect(dockerfileProblems(replaceIn("USER", ""))).toEqual(["final stage: does not run as a non-root USER"]);
    expect(dockerfileProblems(replaceIn("USER", "root"))).toHaveLength(1);
    expect(dockerfileProblems(replaceIn("HEALTHCHECK", ""))).toEqual(["final stage: no HEALTHCHECK"]);
    const secret = broken(stages, (s) => void s.at(-1)!.instructions.push({ keyword: "ENV", args: "SLUICE_JWT_SECRET=0123456789abcdef" }));
    expect(dockerfileProblems(secret)).toEqual(["runtime: ENV SLUICE_JWT_SECRET bakes a secret into the image"]);
    const missingWorkspace = broken(stages, (s) => {
      const manifests = s.find((stage) => stage.name === "manifests")!;
      manifests.instructions.splice(manifests.instructions.findIndex((i) => i.args.includes("services/worker/package.json")), 1);
    });
    expect(dockerfileProblems(missingWorkspace)).toEqual(["workspace services/worker: its package.json is not copied before npm ci"]);
  });

  it("Dockerfile - the worker runs by overriding the command with `npm run worker`'s", () => {
    expect(scriptCommand("worker")).toEqual(["node", "services/worker/dist/main.js"]);
    expect(compose.services.worker?.command).toEqual(scriptCommand("worker"));
  });

  it("Dockerfile - copies only files that exist and that .dockerignore lets through; dependencies and secrets stay out", () => {
    const dockerignore = read(".dockerignore");
    expect(contextSources(stages)).toContain("deploy/healthcheck.mjs");
    expect(dockerignoreProblems(stages, dockerignore)).toEqual([]);
    expect(dockerignoreProblems(stages, `${dockerignore}\ndeploy\n`)).toEqual(expect.arrayContaining(["COPY deploy/healthcheck.mjs: excluded by .dockerignore"]));
    expect(dockerignoreProblems(stages, dockerignore.replace(/^\*\*\/node_modules$/m, ""))).toEqual(["node_modules: not excluded by .dockerignore", "services/edge/node_modules: not excluded by .dockerignore"]);
  });
});

// ---- healthcheck script, demo data loader ----------------------------------------------------

function runNode(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stderr });
    });
  });
}

async function withServer(status: number, run: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer((req, res) => res.writeHead(req.url === "/healthz" ? status : 404).end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await run((server.address() as AddressInfo).port);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe("deploy scripts", () => {
  it("healthcheck - exit 0 on a 200 from /healthz, 1 on a 503 or a closed port", async () => {
    await withServer(200, async (port) => {
      expect((await runNode(["deploy/healthcheck.mjs", String(port)])).code).toBe(0);
      expect((await runNode(["deploy/healthcheck.mjs"], { SLUICE_EDGE_PORT: "1", SLUICE_WORKER_PORT: String(port) })).code).toBe(0);
    });
    await withServer(503, async (port) => {
      expect((await runNode(["deploy/healthcheck.mjs", String(port)])).code).toBe(1);
    });
    expect((await runNode(["deploy/healthcheck.mjs", "1"])).code).toBe(1);
  });

  it("load-demo-data - imports the devstack loader and refuses to run without DATABASE_URL", async () => {
    const result = await runNode(["deploy/load-demo-data.mjs"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("DATABASE_URL is required");
  });
});

// ---- sluice.yaml, nginx, dashboard -----------------------------------------------------------

describe("deploy config files", () => {
  it("sluice.yaml - passes parseConfig: the demo grid dataset on the primary database", () => {
    const document: unknown = parseYaml(read("deploy/sluice.yaml"));
    const config = parseConfig(document, { env: { DATABASE_URL: "postgres://sluice@pgbouncer:5432/sluice" } });
    expect(config.databases.main?.url).toBe("postgres://sluice@pgbouncer:5432/sluice");
    expect(config.datasets.grid).toMatchObject({
      database: "main",
      sql: "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id",
      params: [{ name: "after", type: "int8", required: false }],
      key: "id",
    });
    const misnamed = broken(document as { datasets: { grid: { database: string } } }, (d) => void (d.datasets.grid.database = "mian"));
    expect(() => parseConfig(misnamed, { env: { DATABASE_URL: "postgres://x" } })).toThrow('config datasets.grid.database: names no database ("mian")');
    expect(() => parseConfig(document, { env: {} })).toThrow(/DATABASE_URL is not set/);
  });

  it("sluice.yaml - the Kubernetes ConfigMap's copy is identical", () => {
    expect(read("deploy/k8s/sluice.yaml")).toBe(read("deploy/sluice.yaml"));
  });

  it("nginx - proxies websockets to the compose edges on the published port", () => {
    const nginx = read("deploy/nginx.conf");
    const upstreams = [...nginx.matchAll(/^\s*server\s+([\w.-]+):(\d+)\b/gm)].map((m) => [m[1], m[2]]);
    expect(upstreams).toEqual([["edge-1", "8080"], ["edge-2", "8080"]]);
    for (const [service, port] of upstreams) expect(environmentOf(compose.services[service ?? ""]!).SLUICE_EDGE_PORT).toBe(port);
    expect(nginx).toMatch(/proxy_http_version 1\.1;/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(nginx).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    const listen = /^\s*listen\s+(\d+);/m.exec(nginx)?.[1];
    expect(compose.services.lb?.ports).toContain(`8080:${listen}`);
    expect(compose.services.lb?.volumes).toContain("./nginx.conf:/etc/nginx/conf.d/default.conf:ro");
  });
});

interface Dashboard {
  panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
}

/** Metric names of the README's metrics table: `sluice_edge_requests_total{outcome}` → sluice_edge_requests_total. */
function readmeMetrics(readme: string): string[] {
  return readme
    .split("\n")
    .filter((line) => line.startsWith("| `sluice_"))
    .flatMap((line) => [...(line.split("|")[1] ?? "").matchAll(/`(sluice_[a-z0-9_]+)(\{[^}]*\})?`/g)].map((m) => m[1] ?? ""));
}

async function processMetrics(): Promise<Set<string>> {
  const names = await Promise.all(["sluice_edge_", "sluice_worker_"].map(async (prefix) => (await createRegistry(prefix).getMetricsAsJSON()).map((m) => m.name)));
  return new Set(names.flat());
}

function dashboardProblems(dashboard: Dashboard, documented: readonly string[], processNames: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const ids = dashboard.panels.map((p) => p.id);
  if (new Set(ids).size !== ids.length) problems.push("panel ids repeat");
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bsluice_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""))));
  for (const name of used) if (!documented.includes(name) && !processNames.has(name)) problems.push(`${name}: no such metric`);
  for (const name of documented) if (!used.has(name)) problems.push(`${name}: documented but on no panel`);
  return problems;
}

describe("deploy/grafana-dashboard.json", () => {
  it("dashboard - charts every metric of the README's table, and only metrics that exist", async () => {
    const dashboard = JSON.parse(read("deploy/grafana-dashboard.json")) as Dashboard;
    const documented = readmeMetrics(read("README.md"));
    expect(documented).toContain("sluice_worker_first_chunk_seconds");
    const processNames = await processMetrics();
    expect(dashboardProblems(dashboard, documented, processNames)).toEqual([]);
    const typo = broken(dashboard, (d) => void d.panels.find((p) => p.targets)!.targets!.push({ expr: "sum(sluice_edge_socket)" }));
    expect(dashboardProblems(typo, documented, processNames)).toEqual(["sluice_edge_socket: no such metric"]);
    expect(dashboardProblems(dashboard, [...documented, "sluice_worker_slots"], processNames)).toEqual(["sluice_worker_slots: documented but on no panel"]);
    expect(dashboard.panels.some((p) => p.targets?.some((t) => t.expr.includes("histogram_quantile(0.95")))).toBe(true);
  });
});
