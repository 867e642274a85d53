import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { hasToken } from '../../src/observability/bearer-token.ts';
import { type OpsServer, startOpsServer } from '../../src/observability/ops-endpoints.ts';
import { Readiness, ReadyFlag } from '../../src/observability/readiness.ts';

const withAuthorization = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

describe('ops endpoints', () => {
  const servers: OpsServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  it('accepts the token as Bearer or as a Basic password, nothing else', () => {
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect(hasToken(withAuthorization('Bearer s3cret'), 's3cret')).toBe(true);
    expect(hasToken(withAuthorization('bearer s3cret'), 's3cret')).toBe(true);
    expect(hasToken(withAuthorization(basic('anyone', 's3cret')), 's3cret')).toBe(true);
    expect(hasToken(withAuthorization(basic('s3cret', '')), 's3cret')).toBe(false);
    expect(hasToken(withAuthorization('Bearer s3cre'), 's3cret')).toBe(false);
    expect(hasToken(withAuthorization('Bearer '), 's3cret')).toBe(false);
    expect(hasToken(withAuthorization('s3cret'), 's3cret')).toBe(false);
    expect(hasToken(withAuthorization(), 's3cret')).toBe(false);
  });

  it('reports each readiness check; a check that hangs or throws counts as failed, within about a second', async () => {
    const model = new ReadyFlag();
    const readiness = new Readiness()
      .add('model', model.check)
      .add('slow', () => new Promise<boolean>(() => {}))
      .add('broken', () => {
        throw new Error('no');
      });
    const started = Date.now();
    expect(await readiness.report()).toEqual({ ready: false, checks: { model: false, slow: false, broken: false } });
    expect(Date.now() - started).toBeLessThan(2000);
    model.set();
    const only = new Readiness().add('model', model.check);
    expect(await only.report()).toEqual({ ready: true, checks: { model: true } });
    model.set(false);
    expect((await only.report()).ready).toBe(false);
  });

  it('serves /healthz, /readyz and a token-protected /metrics on its own port', async () => {
    const registry = new Registry();
    const ready = new ReadyFlag();
    const server = await startOpsServer(
      { registry, readiness: new Readiness().add('model', ready.check), metricsToken: 'tok' },
      { port: 0, host: '127.0.0.1' },
    );
    servers.push(server);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready.set();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    expect((await fetch(`${server.url}/other`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`, { method: 'POST' })).status).toBe(404);
  });

  // A peer on another machine, reached through this machine's first non-loopback IPv4 address.
  const externalAddress = Object.values(networkInterfaces())
    .flat()
    .find((info) => info !== undefined && info.family === 'IPv4' && !info.internal)?.address;

  it.skipIf(externalAddress === undefined)(
    'without METRICS_TOKEN, /metrics answers only loopback clients; health endpoints answer everyone',
    async () => {
      const server = await startOpsServer(
        { registry: new Registry(), readiness: new Readiness() },
        { port: 0, host: '0.0.0.0' },
      );
      servers.push(server);
      const remote = `http://${externalAddress}:${server.port}`;
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200);
      const refused = await fetch(`${remote}/metrics`);
      expect(refused.status).toBe(401);
      expect(await refused.text()).toContain('METRICS_TOKEN');
      expect((await fetch(`${remote}/healthz`)).status).toBe(200);
      expect((await fetch(`${remote}/readyz`)).status).toBe(200);
    },
  );
});
