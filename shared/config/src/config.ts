import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SluiceError, echoName, type ParamValue } from "@sluice/protocol";
import { PARAM_TYPES, coerceParam } from "./param-types.js";

const nameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, "must be a name of letters, digits, _ or -");

const databaseSchema = z.strictObject({
  url: z.string().min(1, "is required"),
  role: z.enum(["primary", "replica", "audit", "other"]).default("primary"),
  pool: z.number().int().min(1).max(1000).default(10),
});

const paramSchema = z.strictObject({
  name: nameSchema,
  type: z.enum(PARAM_TYPES),
  required: z.boolean().default(false),
});

const datasetSchema = z.strictObject({
  database: nameSchema.optional(),
  sql: z
    .string()
    .min(1)
    .transform((sql) => sql.trim().replace(/;\s*$/, "")),
  params: z.array(paramSchema).default([]),
  key: z.string().min(1).optional(),
});

const configSchema = z
  .strictObject({
    databases: z.record(nameSchema, databaseSchema),
    datasets: z.record(nameSchema, datasetSchema),
  })
  .superRefine((config, ctx) => {
    const primaries = Object.entries(config.databases).filter(([, db]) => db.role === "primary");
    if (primaries.length > 1) {
      ctx.addIssue({ code: "custom", path: ["databases"], message: "at most one database may have role primary" });
    }
    if (Object.values(config.databases).filter((db) => db.role === "audit").length > 1) {
      ctx.addIssue({ code: "custom", path: ["databases"], message: "at most one database may have role audit" });
    }
    for (const [name, dataset] of Object.entries(config.datasets)) {
      const path = ["datasets", name];
      const database = dataset.database ?? primaries[0]?.[0];
      if (database === undefined) {
        ctx.addIssue({ code: "custom", path: [...path, "database"], message: "is required when no database is primary" });
      } else if (!config.databases[database]) {
        ctx.addIssue({ code: "custom", path: [...path, "database"], message: `names no database ("${database}")` });
      } else if (config.databases[database].role === "audit") {
        ctx.addIssue({ code: "custom", path: [...path, "database"], message: "must not be an audit database" });
      }
      const names = dataset.params.map((p) => p.name);
      names.forEach((param, i) => {
        if (names.indexOf(param) !== i) {
          ctx.addIssue({ code: "custom", path: [...path, "params", i, "name"], message: `duplicate parameter "${param}"` });
        }
      });
      const highest = Math.max(0, ...[...dataset.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      if (highest > dataset.params.length) {
        ctx.addIssue({ code: "custom", path: [...path, "sql"], message: `uses $${highest} but declares ${dataset.params.length} params` });
      }
    }
  });

type ParsedConfig = z.infer<typeof configSchema>;
export type DatabaseConfig = ParsedConfig["databases"][string];
export type ParamConfig = z.infer<typeof paramSchema>;

/** A dataset with its database resolved. */
export interface DatasetConfig {
  readonly name: string;
  readonly database: string;
  readonly sql: string;
  readonly params: readonly ParamConfig[];
  readonly key: string | undefined;
}

export interface SluiceConfig {
  readonly databases: Readonly<Record<string, DatabaseConfig>>;
  readonly datasets: Readonly<Record<string, DatasetConfig>>;
}

/** Raised for a config that cannot be used; the message names the offending field. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export interface LoadOptions {
  /** Environment used for `${VAR}` interpolation. */
  env: Readonly<Record<string, string | undefined>>;
  /** Services that never connect to databases (the edge) may leave database urls unresolved. */
  databaseUrls?: "required" | "optional";
}

/** Replaces `${VAR}` (and `${VAR:-default}`) in every string of the parsed YAML. */
function interpolate(value: unknown, path: string[], options: LoadOptions): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
      const found = options.env[name] ?? fallback;
      if (found !== undefined) return found;
      const isUrl = path[0] === "databases" && path[2] === "url";
      if (isUrl && options.databaseUrls === "optional") return "unresolved://";
      throw new ConfigError(`config ${path.join(".")}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, [...path, String(i)], options));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...path, k], options)]));
  }
  return value;
}

/** Validates an already parsed YAML document. */
export function parseConfig(document: unknown, options: LoadOptions): SluiceConfig {
  const result = configSchema.safeParse(interpolate(document, [], options));
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "(top level)";
    throw new ConfigError(`config ${where}: ${issue?.message ?? "invalid"}`);
  }
  const { databases, datasets } = result.data;
  const primary = Object.entries(databases).find(([, db]) => db.role === "primary")?.[0];
  const resolved = Object.fromEntries(
    Object.entries(datasets).map(([name, d]) => [
      name,
      Object.freeze({ name, database: d.database ?? primary ?? "", sql: d.sql, params: Object.freeze(d.params), key: d.key }),
    ]),
  );
  return Object.freeze({ databases: Object.freeze(databases), datasets: Object.freeze(resolved) });
}

/** Reads, interpolates and validates the YAML config at `path`. */
export function loadConfig(path: string, options: LoadOptions): SluiceConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ConfigError(`config file ${path} cannot be read`, { cause });
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(document, options);
}

/**
 * Checks a client's parameters against the dataset and returns the values to bind, in $n order.
 * Throws a SluiceError with PARAM_UNKNOWN, PARAM_MISSING or PARAM_INVALID.
 */
export function bindParams(dataset: DatasetConfig, params: Readonly<Record<string, ParamValue>>): (string | null)[] {
  for (const name of Object.keys(params)) {
    if (!dataset.params.some((p) => p.name === name)) {
      throw new SluiceError("PARAM_UNKNOWN", `Dataset "${dataset.name}" has no parameter ${echoName(name)}`);
    }
  }
  return dataset.params.map((param) => {
    const value = Object.hasOwn(params, param.name) ? params[param.name] : undefined;
    if (value === undefined || value === null) {
      if (param.required) throw new SluiceError("PARAM_MISSING", `Parameter "${param.name}" is required`);
      return null;
    }
    return coerceParam(param.name, param.type, value);
  });
}
