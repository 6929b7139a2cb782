import { SignJWT } from "jose";

export interface DemoTokenOptions {
  /** Default "demo". */
  readonly sub?: string;
  /** jose duration ("24h", "30m") or seconds. Default "24h". */
  readonly ttl?: string | number;
}

/** An HS256 JWT with claim `tenant`, as the edge expects, signed with `secret`. */
export async function mintToken(secret: string, tenant: string, options: DemoTokenOptions = {}): Promise<string> {
  return new SignJWT({ tenant })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub ?? "demo")
    .setIssuedAt()
    .setExpirationTime(typeof options.ttl === "number" ? Math.floor(Date.now() / 1000) + options.ttl : (options.ttl ?? "24h"))
    .sign(new TextEncoder().encode(secret));
}
