import { randomInt } from "node:crypto";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { requestMessageSchema } from "@sluice/broker";
import { tenantIsValid } from "@sluice/protocol";
import { runRequest, type Outcome, type RunnerDeps } from "./request-runner.js";
import type { RunCounter, TenantSlot, TenantSlots } from "./shared-state.js";

/** A request whose tenant is at its limit goes back to the queue for about this long. */
const TENANT_WAIT_MS = 500;
/** Pull timeout: how long one pull waits for a request before asking again. */
const PULL_EXPIRES_MS = 5_000;
const PULL_RETRY_MS = 1_000;

type State = "new" | "running" | "draining" | "closed";

/**
 * Takes requests from the shared work queue, one pull per free slot, so a request is only taken
 * when this worker can lease a connection for it right away.
 */
export class Worker {
  #state: State = "new";
  readonly #active = new Set<Promise<void>>();
  #consumer: Consumer | undefined;
  readonly #handOver = new AbortController();

  /**
   * `slots`: requests this worker runs at once; `shared.tenantSlots`: the limit of each tenant's
   * running requests across all workers, if any; `shared.runs` counts each request's starts.
   */
  constructor(
    private readonly deps: RunnerDeps,
    private readonly slots: number,
    private readonly shared: { readonly tenantSlots?: TenantSlots; readonly runs?: RunCounter } = {},
  ) {}

  get ready(): boolean {
    return this.#state === "running" && !this.deps.nc.isClosed();
  }

  get activeRequests(): number {
    return this.#active.size;
  }

  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`worker cannot start when ${this.#state}`);
    const { js, names } = this.deps;
    this.#consumer = await js.consumers.get(names.requestStream, names.workerConsumer);
    this.#state = "running";
    void this.#pullLoop();
  }

  async #pullLoop(): Promise<void> {
    while (this.#state === "running") {
      if (this.#active.size >= this.slots) {
        await Promise.race(this.#active);
        continue;
      }
      let msg: JsMsg | null;
      try {
        msg = (await this.#consumer?.next({ expires: PULL_EXPIRES_MS })) ?? null;
      } catch (error) {
        this.deps.logger.warn({ err: error }, "pull failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, PULL_RETRY_MS));
        continue;
      }
      if (!msg) continue;
      if (this.#state !== "running") {
        msg.nak();
        break;
      }
      this.#track(this.#handle(msg));
    }
  }

  #track(run: Promise<void>): void {
    this.#active.add(run);
    this.deps.metrics.active.set(this.#active.size);
    void run.finally(() => {
      this.#active.delete(run);
      this.deps.metrics.active.set(this.#active.size);
    });
  }

  async #handle(msg: JsMsg): Promise<void> {
    const parsed = requestMessageSchema.safeParse(safeJson(msg));
    if (!parsed.success) {
      this.deps.logger.error({ subject: msg.subject }, "dropping a malformed request message");
      msg.term();
      return;
    }
    const request = parsed.data;
    // An invalid tenant takes no slot: the request fails with TENANT_INVALID when it runs.
    let slot: TenantSlot | undefined;
    const { tenantSlots, runs } = this.shared;
    if (tenantSlots && tenantIsValid(request.tenant)) {
      slot = await tenantSlots.acquire(request.tenant, request.key);
      if (!slot) {
        // The tenant runs as many requests as it may: back to the queue, so other tenants' go first.
        this.deps.metrics.tenantWaits.inc();
        msg.nak(TENANT_WAIT_MS + randomInt(TENANT_WAIT_MS));
        return;
      }
    }
    // Tell JetStream the request is in hand while it runs, so it is not given to another worker.
    const heartbeat = setInterval(() => {
      msg.working();
      void slot?.refresh();
    }, this.deps.settings.requestLeaseMs / 3);
    let outcome: Outcome = "failed";
    try {
      // Only requests delivered again are counted (a first delivery is a first start). Counting is
      // best effort: a request is not held up because NATS could not count it.
      const starts = msg.info.deliveryCount === 1 ? 1 : ((await runs?.started(request.key).catch(() => undefined)) ?? 1);
      outcome = await runRequest(this.deps, request, msg, this.#handOver.signal, starts);
    } catch (error) {
      this.deps.logger.error({ err: error, request: request.key }, "request runner crashed");
    } finally {
      clearInterval(heartbeat);
      await slot?.release();
      this.deps.metrics.requests.inc({ outcome });
      // Handed over: delivered again at once, to a worker that continues after the last chunk.
      if (outcome === "handed-over") msg.nak();
      else msg.ack();
    }
  }

  /**
   * Stops taking requests and lets the running ones finish for up to `finishMs`; those still
   * running then are handed over to other workers (which continue them by key) and awaited.
   */
  async close(finishMs: number): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "draining";
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, finishMs)));
    await Promise.race([Promise.allSettled([...this.#active]), timeout]);
    clearTimeout(timer);
    if (this.#active.size > 0) {
      this.deps.logger.info({ requests: this.#active.size }, "handing running requests over to other workers");
      this.#handOver.abort();
      await Promise.allSettled([...this.#active]);
    }
    this.#state = "closed";
  }
}

function safeJson(msg: JsMsg): unknown {
  try {
    return msg.json();
  } catch {
    return undefined;
  }
}
