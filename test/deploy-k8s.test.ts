import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { delimiter, join, posix } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { natsNames } from "@sluice/broker";
import { ENV_VARS, edgeSettings, workerSettings } from "@sluice/config";

// Static checks of deploy/k8s (no cluster here). Each rule returns the problems it finds and is
// also run on a deliberately broken copy, so each can fail. `kubectl kustomize` runs when present.

const root = fileURLToPath(new URL("..", import.meta.url));
const k8sDir = join(root, "deploy", "k8s");
const read = (file: string): string => readFileSync(join(k8sDir, file), "utf8");
const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
const KNOWN_ENV = new Set([...ENV_VARS, "DATABASE_URL"]);
const TEST_SECRET = "a-test-secret-of-32-characters!!";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}
interface Deployment extends Manifest {
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Kustomization {
  resources: string[];
  configMapGenerator?: { name: string; files?: string[] }[];
  secretGenerator?: { name: string; envs?: string[]; files?: string[] }[];
}

function broken<T>(value: T, change: (copy: T) => void): T {
  const copy = structuredClone(value);
  change(copy);
  return copy;
}

/** The documents of one YAML file (several when it has `---`); throws on any parse error. */
function parseManifestFile(file: string, text: string): unknown[] {
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  for (const doc of list) if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
  return list.map((doc) => doc.toJS() as unknown).filter((doc) => doc !== null);
}

function loadManifests(): Map<string, unknown[]> {
  const names = readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f));
  return new Map(names.map((file) => [file, parseManifestFile(file, read(file))]));
}

const files = loadManifests();
const kustomization = files.get("kustomization.yaml")?.[0] as Kustomization;
const manifests = kustomization.resources.flatMap((file) => (files.get(file) ?? []) as Manifest[]);
const byKind = <T extends Manifest>(kind: string, name: string): T => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as T;
};
const edge = byKind<Deployment>("Deployment", "sluice-edge");
const worker = byKind<Deployment>("Deployment", "sluice-worker");

/** KEY=value lines of a kustomize env file. */
function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    read(file)
      .split("\n")
      .filter((line) => line.trim() && !line.trim().startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")).trim(), line.slice(line.indexOf("=") + 1).trim()]),
  );
}

function kustomizationProblems(k: Kustomization): string[] {
  const listed = [
    ...k.resources,
    ...(k.configMapGenerator ?? []).flatMap((g) => g.files ?? []),
    ...(k.secretGenerator ?? []).flatMap((g) => [...(g.envs ?? []), ...(g.files ?? [])]),
  ].map((entry) => entry.split("=").at(-1) ?? entry);
  const problems = listed.filter((file) => !existsSync(join(k8sDir, file))).map((file) => `${file}: listed but missing`);
  const manifestFiles = [...files.keys()].filter((f) => !["kustomization.yaml", "nats-values.yaml"].includes(f) && !listed.includes(f));
  return [...problems, ...manifestFiles.map((f) => `${f}: in deploy/k8s but not in the kustomization`)];
}

const scriptCommand = (name: string): string[] => (rootPackage.scripts[name] ?? "").trim().split(/\s+/);
const sameCommand = (a: readonly string[] | undefined, b: readonly string[]): boolean => a?.length === b.length && a.every((t, i) => t === b[i]);

interface DeploymentRules {
  readonly service: "edge" | "worker";
  readonly portVariable: "SLUICE_EDGE_PORT" | "SLUICE_WORKER_PORT";
  readonly minGraceSeconds: number;
}

/** The container's environment with Secret references resolved from the generator's env file. */
function resolvedEnv(container: Container, k: Kustomization): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const variable of container.env ?? []) {
    if (!KNOWN_ENV.has(variable.name) && /^SLUICE_|^NATS_URL$|^DATABASE_URL$/.test(variable.name)) problems.push(`${variable.name}: not a variable the services read`);
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref) {
      const generator = (k.secretGenerator ?? []).find((g) => g.name === ref.name);
      const values = Object.assign({}, ...(generator?.envs ?? []).map(envFile)) as Record<string, string>;
      if (values[ref.key] === undefined) problems.push(`${variable.name}: secret ${ref.name} has no key ${ref.key}`);
      env[variable.name] = values[ref.key] ?? "";
    } else {
      env[variable.name] = variable.value ?? "";
    }
  }
  return { env, problems };
}

function deploymentProblems(d: Deployment, k: Kustomization, rules: DeploymentRules): string[] {
  const pod = d.spec.template.spec;
  const problems: string[] = [];
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (pod.terminationGracePeriodSeconds === undefined || grace < rules.minGraceSeconds) problems.push(`terminationGracePeriodSeconds must be ≥ ${rules.minGraceSeconds}`);
  for (const [key, value] of Object.entries(d.spec.selector.matchLabels)) {
    if (d.spec.template.metadata.labels[key] !== value) problems.push(`selector ${key}=${value} does not match the pod labels`);
  }
  for (const c of pod.containers) {
    const { env, problems: envProblems } = resolvedEnv(c, k);
    problems.push(...envProblems.map((p) => `${c.name}: ${p}`));
    if (!sameCommand(c.command, scriptCommand(rules.service))) problems.push(`${c.name}: command is not \`npm run ${rules.service}\`'s`);
    try {
      const settingsEnv = { ...env, ...(env.SLUICE_JWT_SECRET !== undefined ? { SLUICE_JWT_SECRET: TEST_SECRET } : {}) };
      if (rules.service === "edge") edgeSettings(settingsEnv);
      else workerSettings(settingsEnv);
    } catch (error) {
      problems.push(`${c.name}: ${(error as Error).message}`);
    }
    const port = Number(env[rules.portVariable]);
    const portOf = (probe: Probe | undefined): number | undefined => {
      const p = probe?.httpGet?.port;
      return typeof p === "number" ? p : c.ports?.find((cp) => cp.name === p)?.containerPort;
    };
    if (c.readinessProbe?.httpGet?.path !== "/readyz" || portOf(c.readinessProbe) !== port) problems.push(`${c.name}: readinessProbe is not GET /readyz on ${rules.portVariable} (${port})`);
    if (c.livenessProbe?.httpGet?.path !== "/healthz" || portOf(c.livenessProbe) !== port) problems.push(`${c.name}: livenessProbe is not GET /healthz on ${rules.portVariable} (${port})`);
    for (const kind of ["requests", "limits"] as const) {
      if (!c.resources?.[kind]?.cpu || !c.resources[kind].memory) problems.push(`${c.name}: resources.${kind} needs cpu and memory`);
    }
    const nonRoot = (c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) === true;
    const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
    if (!nonRoot || uid === undefined || uid === 0) problems.push(`${c.name}: must run as non-root with a numeric runAsUser`);
    if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${c.name}: readOnlyRootFilesystem must be true`);
    if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation must be false`);
    const configDir = posix.dirname(env.SLUICE_CONFIG ?? "");
    const mount = c.volumeMounts?.find((m) => m.mountPath === configDir);
    const configMap = pod.volumes?.find((v) => v.name === mount?.name)?.configMap?.name;
    const generator = (k.configMapGenerator ?? []).find((g) => g.name === configMap);
    if (!generator?.files?.some((f) => (f.split("=")[0] ?? f) === posix.basename(env.SLUICE_CONFIG ?? ""))) problems.push(`${c.name}: SLUICE_CONFIG is not a file of a generated ConfigMap mounted at ${configDir}`);
  }
  return problems;
}

const EDGE_RULES: DeploymentRules = { service: "edge", portVariable: "SLUICE_EDGE_PORT", minGraceSeconds: 30 };
const WORKER_RULES: DeploymentRules = { service: "worker", portVariable: "SLUICE_WORKER_PORT", minGraceSeconds: 40 };
const envOf = (d: Deployment): Record<string, string> => resolvedEnv(d.spec.template.spec.containers[0]!, kustomization).env;

function selects(selector: Record<string, string> | undefined, d: Deployment): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v);
}

interface ScaledObject extends Manifest {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount: number;
    maxReplicaCount: number;
    triggers: { type: string; metadata: Record<string, string> }[];
  };
}

function scaledObjectProblems(so: ScaledObject, workerDeployment: Deployment, natsPorts: { monitor: number }): string[] {
  const problems: string[] = [];
  if (so.spec.scaleTargetRef.name !== workerDeployment.metadata.name) problems.push("scaleTargetRef is not the worker Deployment");
  if (!(so.spec.minReplicaCount >= 1 && so.spec.maxReplicaCount > so.spec.minReplicaCount)) problems.push("needs 1 ≤ minReplicaCount < maxReplicaCount");
  const env = envOf(workerDeployment);
  const names = natsNames(env.SLUICE_NATS_PREFIX ?? "sluice");
  const trigger = so.spec.triggers.find((t) => t.type === "nats-jetstream");
  if (!trigger) return [...problems, "no nats-jetstream trigger"];
  const m = trigger.metadata;
  if (m.stream !== names.requestStream) problems.push(`stream ${m.stream} is not the request stream ${names.requestStream}`);
  if (m.consumer !== names.workerConsumer) problems.push(`consumer ${m.consumer} is not the workers' consumer ${names.workerConsumer}`);
  if (m.account !== "$G") problems.push("account must be $G (no NATS accounts configured)");
  if (m.lagThreshold !== env.SLUICE_WORKER_SLOTS) problems.push(`lagThreshold ${m.lagThreshold} is not SLUICE_WORKER_SLOTS (${env.SLUICE_WORKER_SLOTS})`);
  if (!m.natsServerMonitoringEndpoint?.endsWith(`:${natsPorts.monitor}`)) problems.push("natsServerMonitoringEndpoint is not NATS's monitoring port");
  return problems;
}

describe("deploy/k8s", () => {
  it("k8s - every YAML file parses, and the kustomization lists files that exist (and every manifest)", () => {
    expect([...files.keys()]).toEqual(expect.arrayContaining(["kustomization.yaml", "nats-values.yaml", "sluice.yaml"]));
    expect(kustomizationProblems(kustomization)).toEqual([]);
    expect(kustomizationProblems(broken(kustomization, (k) => void k.resources.push("missing.yaml")))).toEqual(["missing.yaml: listed but missing"]);
    expect(kustomizationProblems(broken(kustomization, (k) => void k.resources.splice(k.resources.indexOf("edge-pdb.yaml"), 1)))).toEqual([
      "edge-pdb.yaml: in deploy/k8s but not in the kustomization",
    ]);
    expect(parseManifestFile("two.yaml", "a: 1\n---\nb: 2\n")).toEqual([{ a: 1 }, { b: 2 }]);
    expect(() => parseManifestFile("bad.yaml", "a: [1\n")).toThrow(/^bad\.yaml: /);
  });

  it("k8s - edge Deployment: probes, grace, resources, securityContext, known env, `npm run edge`", () => {
    expect(deploymentProblems(edge, kustomization, EDGE_RULES)).toEqual([]);
    const container = (d: Deployment) => d.spec.template.spec.containers[0]!;
    expect(deploymentProblems(broken(edge, (d) => void (container(d).readinessProbe!.httpGet!.path = "/healthz")), kustomization, EDGE_RULES)).toEqual([
      "edge: readinessProbe is not GET /readyz on SLUICE_EDGE_PORT (8080)",
    ]);
    expect(deploymentProblems(broken(edge, (d) => void (d.spec.template.spec.terminationGracePeriodSeconds = 10)), kustomization, EDGE_RULES)).toEqual([
      "terminationGracePeriodSeconds must be ≥ 30",
    ]);
    expect(deploymentProblems(broken(edge, (d) => void container(d).env!.push({ name: "SLUICE_EDGE_PROT", value: "8080" })), kustomization, EDGE_RULES)).toEqual([
      "edge: SLUICE_EDGE_PROT: not a variable the services read",
    ]);
    expect(deploymentProblems(broken(edge, (d) => void (container(d).securityContext!.readOnlyRootFilesystem = false)), kustomization, EDGE_RULES)).toHaveLength(1);
    expect(deploymentProblems(broken(edge, (d) => void delete container(d).resources!.limits), kustomization, EDGE_RULES)).toHaveLength(1);
    expect(deploymentProblems(broken(edge, (d) => void (container(d).command = ["node", "services/edge/main.js"])), kustomization, EDGE_RULES)).toHaveLength(1);
  });

  it("k8s - worker Deployment: probes on its port, grace ≥ 40 s, database URL from the Secret, `npm run worker`", () => {
    expect(deploymentProblems(worker, kustomization, WORKER_RULES)).toEqual([]);
    const container = (d: Deployment) => d.spec.template.spec.containers[0]!;
    expect(deploymentProblems(broken(worker, (d) => void (container(d).livenessProbe!.httpGet!.port = 8080)), kustomization, WORKER_RULES)).toEqual([
      "worker: livenessProbe is not GET /healthz on SLUICE_WORKER_PORT (9090)",
    ]);
    expect(deploymentProblems(broken(worker, (d) => void (d.spec.template.spec.terminationGracePeriodSeconds = 30)), kustomization, WORKER_RULES)).toHaveLength(1);
    const wrongKey = broken(worker, (d) => void (container(d).env!.find((e) => e.name === "DATABASE_URL")!.valueFrom!.secretKeyRef!.key = "DB_URL"));
    expect(deploymentProblems(wrongKey, kustomization, WORKER_RULES)).toEqual(["worker: DATABASE_URL: secret sluice-secrets has no key DB_URL"]);
    const noConfig = broken(worker, (d) => void (d.spec.template.spec.volumes = []));
    expect(deploymentProblems(noConfig, kustomization, WORKER_RULES)).toHaveLength(1);
  });

  it("k8s - the example Secret cannot go live: the edge rejects its placeholder JWT secret", () => {
    const secrets = envFile("secrets.example.env");
    expect(Object.keys(secrets).sort()).toEqual(["DATABASE_URL", "SLUICE_JWT_SECRET"]);
    expect(() => edgeSettings({ SLUICE_CONFIG: "/etc/sluice/sluice.yaml", SLUICE_JWT_SECRET: secrets.SLUICE_JWT_SECRET })).toThrow(/SLUICE_JWT_SECRET/);
  });

  it("k8s - edge Service, PodDisruptionBudget and CPU HorizontalPodAutoscaler point at the edge pods", () => {
    const service = byKind<Manifest & { spec: { selector: Record<string, string>; ports: { targetPort: string | number }[] } }>("Service", "sluice-edge");
    const pdb = byKind<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>("PodDisruptionBudget", "sluice-edge");
    const hpa = byKind<Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; metrics: { resource?: { name: string } }[] } }>(
      "HorizontalPodAutoscaler",
      "sluice-edge",
    );
    const ports = edge.spec.template.spec.containers[0]?.ports ?? [];
    expect(selects(service.spec.selector, edge)).toBe(true);
    expect(service.spec.ports.every((p) => ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort))).toBe(true);
    expect(selects(pdb.spec.selector.matchLabels, edge)).toBe(true);
    expect(selects(pdb.spec.selector.matchLabels, worker)).toBe(false);
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: edge.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.metrics.map((m) => m.resource?.name)).toContain("cpu");
  });

  it("k8s - KEDA scales the workers on the request stream's worker consumer, one slot per unit of lag", () => {
    const so = byKind<ScaledObject>("ScaledObject", "sluice-worker");
    const values = parseYaml(read("nats-values.yaml")) as { config: { monitor: { port: number } } };
    const ports = { monitor: values.config.monitor.port };
    expect(scaledObjectProblems(so, worker, ports)).toEqual([]);
    expect(scaledObjectProblems(broken(so, (s) => void (s.spec.triggers[0]!.metadata.consumer = "workers")), worker, ports)).toEqual([
      "consumer workers is not the workers' consumer sluice_workers",
    ]);
    const otherPrefix = broken(worker, (d) => void d.spec.template.spec.containers[0]!.env!.push({ name: "SLUICE_NATS_PREFIX", value: "blue" }));
    expect(scaledObjectProblems(so, otherPrefix, ports)).toHaveLength(2);
  });

  it("k8s - NATS Helm values: 3-node JetStream cluster on file storage PVCs, monitoring on", () => {
    const values = parseYaml(read("nats-values.yaml")) as {
      config: { cluster: { enabled: boolean; replicas: number }; jetstream: { enabled: boolean; fileStore: { enabled: boolean; pvc: { enabled: boolean; size: string } } }; monitor: { enabled: boolean } };
    };
    expect(values.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(values.config.jetstream.enabled).toBe(true);
    expect(values.config.jetstream.fileStore).toMatchObject({ enabled: true, pvc: { enabled: true } });
    expect(values.config.jetstream.fileStore.pvc.size).toMatch(/^\d+Gi$/);
    expect(values.config.monitor.enabled).toBe(true);
  });

  it("k8s - edges and workers keep every stream on all 3 JetStream nodes", () => {
    const replicas = (d: Deployment) => d.spec.template.spec.containers[0]!.env!.find((e) => e.name === "SLUICE_STREAM_REPLICAS")?.value;
    expect(replicas(edge)).toBe("3");
    expect(replicas(worker)).toBe("3");
    // Both create the streams; a difference would make them fight over the setting.
    expect(workerSettings({ SLUICE_CONFIG: "x", SLUICE_STREAM_REPLICAS: replicas(worker) }).streamReplicas).toBe(3);
  });

  const kubectl = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "kubectl")).find((path) => existsSync(path));

  it.skipIf(kubectl === undefined)("k8s - `kubectl kustomize` builds it, and the Deployments use the generated ConfigMap and Secret", () => {
    const output = execFileSync(kubectl!, ["kustomize", k8sDir], { encoding: "utf8", timeout: 60_000 });
    const built = parseAllDocuments(output) as unknown as { toJS(): Manifest }[];
    const docs = built.map((d) => d.toJS());
    const generated = (kind: string, base: string) => docs.find((d) => d.kind === kind && d.metadata.name.startsWith(`${base}-`))?.metadata.name;
    const configMap = generated("ConfigMap", "sluice-config");
    const secret = generated("Secret", "sluice-secrets");
    expect(configMap).toMatch(/^sluice-config-[a-z0-9]+$/);
    expect(secret).toMatch(/^sluice-secrets-[a-z0-9]+$/);
    for (const d of docs.filter((doc): doc is Deployment => doc.kind === "Deployment")) {
      const pod = d.spec.template.spec;
      expect(pod.volumes?.find((v) => v.configMap)?.configMap?.name).toBe(configMap);
      const refs = pod.containers.flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])));
      expect(refs.length).toBeGreaterThan(0);
      expect(new Set(refs)).toEqual(new Set([secret]));
      expect((d as Manifest & { metadata: { namespace?: string } }).metadata.namespace).toBe("sluice");
    }
  });
});
