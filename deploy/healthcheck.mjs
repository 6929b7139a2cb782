// Container health probe for the Sluice image, which has no curl: GET /healthz on the service's
// port, exit 0 when it answers 200, 1 otherwise. Used by the Dockerfile's HEALTHCHECK and by
// deploy/compose.yaml.
//
//   node deploy/healthcheck.mjs [port]
//
// Without a port it probes SLUICE_EDGE_PORT (default 8080) and SLUICE_WORKER_PORT: a container runs
// one service, so only that service's port can answer. A worker on port 0 (any free port) cannot be
// probed this way; the image sets SLUICE_WORKER_PORT=9090.

/** Time one probe may take. */
const TIMEOUT_MS = 2_000;

function portsToProbe(argv, env) {
  if (argv.length > 0) return argv;
  return [env.SLUICE_EDGE_PORT ?? "8080", env.SLUICE_WORKER_PORT].filter((port) => port !== undefined && port !== "0");
}

async function healthy(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

const results = await Promise.all(portsToProbe(process.argv.slice(2), process.env).map(healthy));
process.exit(results.includes(true) ? 0 : 1);
