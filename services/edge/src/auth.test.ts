import { createServer } from "node:http";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { SluiceError } from "@sluice/protocol";
import { createAuthenticator } from "./auth.js";

const SECRET = "a-secret-of-enough-length";
const now = (): number => Math.floor(Date.now() / 1000);

function token(claims: Record<string, unknown>, exp: number): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "accepted",
    (error: unknown) => (error instanceof SluiceError ? error.code : String(error)),
  );
}

describe("authenticator", () => {
  const auth = createAuthenticator({ keys: { kind: "secret", secret: SECRET }, issuer: "idp", audience: "sluice", clockSkewS: 30 });
  const good = { tenant: "acme", sub: "ann", iss: "idp", aud: "sluice" };

  it("auth - reads tenant, subject, expiry and the datasets claim", async () => {
    const exp = now() + 60;
    expect(await auth.verify(await token({ ...good, datasets: ["grid"] }, exp))).toEqual({ tenant: "acme", subject: "ann", expiresAt: exp, datasets: ["grid"] });
    expect((await auth.verify(await token(good, exp))).datasets).toBeUndefined();
  });

  it("auth - exp and nbf allow the configured clock skew, and no more", async () => {
    expect(await codeOf(auth.verify(await token(good, now() - 10)))).toBe("accepted");
    expect(await codeOf(auth.verify(await token(good, now() - 40)))).toBe("AUTH_EXPIRED");
    expect(await codeOf(auth.verify(await token({ ...good, nbf: now() + 10 }, now() + 60)))).toBe("accepted");
    expect(await codeOf(auth.verify(await token({ ...good, nbf: now() + 40 }, now() + 60)))).toBe("AUTH_INVALID");
  });

  it("auth - issuer, audience, tenant and datasets are checked", async () => {
    const exp = now() + 60;
    expect(await codeOf(auth.verify(await token({ ...good, iss: "other" }, exp)))).toBe("AUTH_INVALID");
    expect(await codeOf(auth.verify(await token({ ...good, aud: "other" }, exp)))).toBe("AUTH_INVALID");
    expect(await codeOf(auth.verify(await token({ ...good, tenant: "" }, exp)))).toBe("AUTH_INVALID");
    expect(await codeOf(auth.verify(await token({ ...good, datasets: ["a", 1] }, exp)))).toBe("AUTH_INVALID");
  });

  it("auth - a JWKS endpoint out of reach or answering badly is SERVICE_UNAVAILABLE, not the client's fault", async () => {
    const hs = await new SignJWT({ tenant: "acme" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
    const header = Buffer.from(JSON.stringify({ alg: "RS256", kid: "k" })).toString("base64url");
    const body = Buffer.from(JSON.stringify({ tenant: "acme", exp: now() + 60 })).toString("base64url");
    const rs = `${header}.${body}.${Buffer.from("sig").toString("base64url")}`;
    const answers: [number, string][] = [[500, "oops"], [200, "not json"], [200, '{"keys":"none"}']];
    const server = createServer((_req, res) => {
      const [status, text] = answers.shift() ?? [404, ""];
      res.writeHead(status).end(text);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      for (const url of ["http://127.0.0.1:9/jwks.json", `http://127.0.0.1:${port}/a`, `http://127.0.0.1:${port}/b`, `http://127.0.0.1:${port}/c`]) {
        const jwks = createAuthenticator({ keys: { kind: "jwks", url }, issuer: undefined, audience: undefined, clockSkewS: 0 });
        // An HS256 token is refused before any key is fetched; an RS256 one needs the set.
        expect(await codeOf(jwks.verify(hs))).toBe("AUTH_INVALID");
        expect(await codeOf(jwks.verify(rs)), url).toBe("SERVICE_UNAVAILABLE");
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
