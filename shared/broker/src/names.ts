/**
 * Every NATS name Sluice uses, built in one place. All start with the prefix, so independent
 * stacks share one NATS server without touching each other.
 *
 * A request is known on the bus by its key `<session>.<id>`: two subject tokens, so that one
 * session's subjects can be matched with a wildcard.
 */
export interface Names {
  readonly prefix: string;
  readonly requestStream: string;
  readonly resultStream: string;
  readonly workerConsumer: string;
  /** Audit records on their way to the audit database, and the workers' consumer writing them. */
  readonly auditStream: string;
  readonly auditSubject: string;
  readonly auditConsumer: string;
  /** Key-value bucket the workers share: tenants' running-request slots, requests' run counts. */
  readonly workerStateBucket: string;
  readonly requestFilter: string;
  readonly resultFilter: string;
  requestSubject(key: string): string;
  resultSubject(key: string): string;
  flowSubject(key: string): string;
  /** Edges announce here that a session resumed with them. */
  takeoverSubject(session: string): string;
  relayConsumer(key: string, epoch: number): string;
}

export function requestKey(session: string, id: string): string {
  return `${session}.${id}`;
}

export function natsNames(prefix: string): Names {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new Error(`invalid NATS prefix "${prefix}"`);
  return Object.freeze({
    prefix,
    requestStream: `${prefix}_requests`,
    resultStream: `${prefix}_results`,
    workerConsumer: `${prefix}_workers`,
    auditStream: `${prefix}_audit`,
    auditSubject: `${prefix}.audit`,
    auditConsumer: `${prefix}_audit_writers`,
    workerStateBucket: `${prefix}_worker_state`,
    requestFilter: `${prefix}.req.>`,
    resultFilter: `${prefix}.res.>`,
    requestSubject: (key: string) => `${prefix}.req.${key}`,
    resultSubject: (key: string) => `${prefix}.res.${key}`,
    flowSubject: (key: string) => `${prefix}.flow.${key}`,
    takeoverSubject: (session: string) => `${prefix}.session.${session}`,
    relayConsumer: (key: string, epoch: number) => `${prefix}_relay_${key.replace(".", "_")}_${epoch}`,
  });
}
