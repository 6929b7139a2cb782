import { SignJWT } from "jose";

export interface TokenOptions {
  /** HS256 secret, the edge's SLUICE_JWT_SECRET. */
  secret: string;
  /** Tenant claim: the PostgreSQL schema the edge's requests run in. */
  tenant: string;
  /** Subject. Default "dev". */
  sub?: string;
  /** Lifetime in seconds. Default 3600. */
  ttlSeconds?: number;
  /** Datasets claim; omitted when undefined. */
  datasets?: readonly string[];
  /** Issue time in seconds since the epoch. Default now. */
  issuedAt?: number;
}

/** Mints an HS256 JWT with claims tenant, sub, iat, exp (and datasets when given). */
export async function mintToken(options: TokenOptions): Promise<string> {
  const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? 3600;
  const claims: Record<string, unknown> = { tenant: options.tenant };
  if (options.datasets !== undefined) claims["datasets"] = [...options.datasets];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub ?? "dev")
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttl)
    .sign(new TextEncoder().encode(options.secret));
}

const DURATION = /^(\d+)\s*(s|m|h|d)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Parses "90", "90s", "15m", "1h" or "7d" into seconds; undefined when malformed or zero. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (match === null) return undefined;
  const unit = (match[2] ?? "s") as keyof typeof UNIT_SECONDS;
  const seconds = Number(match[1]) * UNIT_SECONDS[unit];
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

/** Splits "a,b" into ["a", "b"], dropping blanks. */
export function parseList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
