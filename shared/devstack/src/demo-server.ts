import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import type { SluiceConfig } from "@sluice/config";
import { DevstackError } from "./errors.js";

/** A dataset as the demo page may know it: its name and parameters, never its SQL. */
export interface DemoDataset {
  readonly name: string;
  readonly params: readonly { readonly name: string; readonly type: string; readonly required: boolean }[];
}

/** What the page reads from `/demo.json`. */
export interface DemoPageSettings {
  /** Websocket URL of the edge, as the browser reaches it. */
  readonly url: string;
  /** A token minted for `tenant`; the signing secret stays in the dev stack. */
  readonly token: string;
  readonly tenant: string;
  readonly datasets: readonly DemoDataset[];
}

export interface DemoServerOptions {
  /** The built page: `apps/demo/dist/page` (see demoPageDir). */
  readonly pageDir: string;
  readonly settings: DemoPageSettings;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default 127.0.0.1: the page carries a token, so it is not served to the network. */
  readonly host?: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** Where `npm run build` puts the demo page. */
export function demoPageDir(root: string): string {
  return join(root, "apps", "demo", "dist", "page");
}

/** The safe part of the config for the page: dataset names and their parameters. */
export function demoDatasets(config: SluiceConfig): DemoDataset[] {
  return Object.values(config.datasets).map((dataset) => ({
    name: dataset.name,
    params: dataset.params.map((param) => ({ name: param.name, type: param.type, required: param.required })),
  }));
}

/** Serves the built demo page and its settings over HTTP; GET and HEAD only. */
export class DemoServer {
  readonly #server: Server;
  readonly #options: DemoServerOptions;

  private constructor(server: Server, options: DemoServerOptions) {
    this.#server = server;
    this.#options = options;
  }

  /** Throws DEMO_NOT_BUILT when the page is missing. */
  static async start(options: DemoServerOptions): Promise<DemoServer> {
    if (!existsSync(join(options.pageDir, "index.html"))) {
      throw new DevstackError("DEMO_NOT_BUILT", `the demo page is not built (${options.pageDir}/index.html is missing): run npm run build`);
    }
    const server = createServer();
    const demo = new DemoServer(server, options);
    server.on("request", (request: IncomingMessage, response: ServerResponse) => void demo.#serve(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
    });
    return demo;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  }

  /** The page's URL, e.g. http://localhost:8081/. */
  get url(): string {
    return `http://localhost:${this.port}/`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== "GET" && request.method !== "HEAD") return reply(response, 405, "method not allowed");
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    if (path === "/demo.json") {
      response.writeHead(200, { "content-type": CONTENT_TYPES[".json"], "cache-control": "no-store" });
      response.end(request.method === "HEAD" ? undefined : JSON.stringify(this.#options.settings));
      return;
    }
    const file = this.#fileOf(path === "/" ? "/index.html" : path);
    const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
    if (file === undefined || info === undefined || !info.isFile()) return reply(response, 404, "not found");
    response.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream", "content-length": info.size });
    if (request.method === "HEAD") response.end();
    else createReadStream(file).pipe(response);
  }

  /** The file under the page directory that `path` names; undefined for a path that leaves it. */
  #fileOf(path: string): string | undefined {
    const file = normalize(join(this.#options.pageDir, path));
    return file.startsWith(normalize(this.#options.pageDir) + sep) ? file : undefined;
  }
}

function reply(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}
