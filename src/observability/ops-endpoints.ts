import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { OriginPolicy } from '../http/origin-policy.ts';
import { hasToken } from './bearer-token.ts';
import type { Readiness } from './readiness.ts';

/** Where a web server mounts Bull Board (src/observability/queue-dashboard.ts). */
export const queueDashboardPath = '/admin/queues';

/** Answers a request under {@link queueDashboardPath}. */
export type QueueDashboardHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/** What `/healthz`, `/readyz` and `/metrics` answer from. */
export interface OpsEndpoints {
  registry: Registry;
  readiness: Readiness;
  /**
   * When set, `/metrics` wants `Authorization: Bearer <token>` (or Basic with it as password); unset, `/metrics`
   * answers only clients on this machine (loopback).
   */
  metricsToken?: string | undefined;
}

/** True for a peer on this machine: 127.0.0.0/8 or ::1 (also IPv4-mapped). */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

const addressOrLocalhost = new OriginPolicy();

/**
 * Without a token, loopback peers asked by address or `localhost`: a DNS-rebinding page in a browser on this machine
 * passes the loopback check, but asks under its own name.
 */
function metricsAllowed(endpoints: OpsEndpoints, request: IncomingMessage): boolean {
  return endpoints.metricsToken === undefined
    ? isLoopback(request.socket.remoteAddress) && addressOrLocalhost.allowsHost(request)
    : hasToken(request, endpoints.metricsToken);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

/**
 * Answers `GET /healthz` (the process is alive: no dependency is checked, so a Redis outage never restarts pods),
 * `GET /readyz` (200 or 503 with each check) and `GET /metrics`; returns false for any other request.
 */
export async function handleOpsRequest(
  endpoints: OpsEndpoints,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<boolean> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz') {
    sendJson(response, 200, { ok: true });
    return true;
  }
  if (path === '/readyz') {
    const report = await endpoints.readiness.report();
    sendJson(response, report.ready ? 200 : 503, report);
    return true;
  }
  if (path === '/metrics') {
    if (!metricsAllowed(endpoints, request)) {
      response.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' });
      response.end(
        endpoints.metricsToken === undefined
          ? 'unauthorized: set METRICS_TOKEN to scrape /metrics from another machine\n'
          : 'unauthorized\n',
      );
      return true;
    }
    const text = await endpoints.registry.metrics();
    response.writeHead(200, { 'content-type': endpoints.registry.contentType, 'cache-control': 'no-store' });
    response.end(text);
    return true;
  }
  return false;
}

/** A running ops server. */
export interface OpsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts a small HTTP server with only the ops endpoints, for processes that have no web server of their own (model
 * workers, the Discord adapter): `METRICS_PORT`/`METRICS_HOST`.
 */
export async function startOpsServer(
  endpoints: OpsEndpoints,
  options: { port: number; host?: string },
): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    handleOpsRequest(endpoints, request, response).then(
      (handled) => {
        if (!handled) sendJson(response, 404, { error: 'not_found' });
      },
      (error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, { error: String(error) });
        else response.end();
      },
    );
  });
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
