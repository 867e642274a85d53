import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { hasToken } from './bearer-token.ts';
import { type QueueDashboardHandler, queueDashboardPath } from './ops-endpoints.ts';

/**
 * Bull Board (the queues' jobs, retries, failures) for a node:http server, behind `token` (HTTP Basic with the token
 * as password, so a browser can log in; or `Authorization: Bearer`). Bull Board's Hono adapter serves it; Hono's Node
 * adapter turns it into a plain request listener.
 */
export function createQueueDashboard(queues: readonly Queue[], token: string): QueueDashboardHandler {
  const serverAdapter = new HonoAdapter(serveStatic);
  createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue)), serverAdapter });
  serverAdapter.setBasePath(queueDashboardPath);
  const app = new Hono().route(queueDashboardPath, serverAdapter.registerPlugin());
  const listener = getRequestListener(app.fetch);
  return async (request, response) => {
    if (!hasToken(request, token)) {
      response.writeHead(401, {
        'www-authenticate': 'Basic realm="ziya-visual-bot admin"',
        'content-type': 'text/plain',
      });
      response.end('unauthorized\n');
      return;
    }
    await listener(request, response);
  };
}
