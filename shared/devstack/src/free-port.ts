import { createServer } from "node:net";

/**
 * A TCP port nothing listens on right now, chosen by the OS. Another process may still take it
 * before the caller binds it; callers that can learn the port from the server itself should.
 * Default host: all interfaces, the way the services listen.
 */
export function freePort(host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("the OS gave no port"))));
    });
  });
}

/** Whether `port` can be bound right now (on all interfaces unless `host` is given). */
export function portIsFree(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
