/*
 * Local web chat: HTTP API (the contract the page in adapters/web/public/ codes against).
 *
 *   GET  /                                   → adapters/web/public/index.html (static files from public/)
 *   GET  /api/info                           → 200 { demo: boolean, modelId: string, defaultLanguage: 'zh-CN'|'zh-TW'|'en',
 *                                                    banner?: string,    (banner: rendered `demo.banner` when demo)
 *                                                    limits: { imageMaxBytes, imageMaxSize, textMaxCharacters,
 *                                                              imageFormats: [{ name, mediaTypes, extensions }] } }
 *                                             (what the page checks before sending, page-limits.ts)
 *   GET  /api/strings?language=<tag>        → 200 { language, strings }   (the page's catalog strings, src/i18n/web-strings.ts)
 *   POST /api/channels/:channel/messages     → 202 { requestId }      (200 { requestId, duplicate: true } on a repeat)
 *        body either application/json { text?: string, image?: string (base64, or a data: URL),
 *                                           imageName?: string, clientMessageId?: string, language?: string }
 *        or multipart/form-data with fields text, clientMessageId, language and a file field `image`.
 *        clientMessageId (letters, digits, - and _) makes retries idempotent; a random one is made when absent.
 *        Every error the user should see (empty, too long, bad image) comes back later as an SSE `reply` with
 *        `error` set, in order with the channel's other replies; the POST itself fails only for a malformed
 *        request (400 { error: 'bad_request', message }), another body type (415, not read: a cross-site form's
 *        text/plain is never JSON), a body over the upload limit (413), or a message over the rate limits after this
 *        minute's `rate_limited` reply was already sent (429 { requestId, error, message }).
 *   GET  /api/channels/:channel/events       → text/event-stream; events (data is JSON):
 *          event: progress  data: { requestId, text }      accumulated partial answer (throttled, ≥ 300 ms)
 *          event: reply     data: { requestId, text, language, finishReason, error? }
 *                                  text is final and rendered (error replies: the catalog message in `language`)
 *          event: error     data: { requestId?, message }   transport-level trouble (rare)
 *        a comment line `: ping` every 15 s keeps proxies from closing the stream.
 *   POST /api/channels/:channel/reset[?language=<tag>]  → 202 { requestId }  (the `reset.done` confirmation arrives as
 *                                            a `reply`, in the page's language when it names one)
 *   GET  /api/channels/:channel/history      → 200 { turns: [{ requestId, role: 'user'|'assistant', text, language,
 *                                                    imageSha256?, at }] }   (oldest first, the channel's context)
 *   GET  /api/images/:sha256                 → the stored normalized image bytes (for showing history thumbnails)
 *   GET  /healthz, /readyz, /metrics         (src/observability/ops-endpoints.ts; /metrics behind METRICS_TOKEN when set)
 *   GET  /sign-in, POST /sign-in (form field token), POST /sign-out   only when WEB_ACCESS_TOKEN is set (web-access.ts):
 *        the page, a session cookie (zvb_web: HttpOnly, SameSite=Lax, a week) for the right token, 429 with
 *        Retry-After after 5 wrong tokens a minute from one address. Without the cookie (or `Authorization: Bearer
 *        <token>`) every route but these, the probes, /metrics and /admin/queues answers 401 { error: 'unauthorized',
 *        login: '/sign-in' }; a page navigation is sent to /sign-in instead. With WEB_TRUSTED_USER_HEADER each
 *        request's user is the one that header names (a request without it: 401).
 *   GET  /admin/queues/...                 Bull Board, only when ADMIN_TOKEN is set (bearer token, or the session cookie
 *                                          that /admin/queues/login gives for it; read-only unless ADMIN_WRITE=true)
 *
 * :channel is 1–64 characters of letters, digits, - and _. Platform `web`, channelKey `web:<channel>`.
 * Every route but /healthz and /readyz answers 403 { error: 'forbidden_host' } unless asked by an IP address,
 * `localhost` or WEB_PUBLIC_URL's host (DNS rebinding), and every POST 403 { error: 'cross_site_request' } when its
 * Origin (or Sec-Fetch-Site) says another site sent it. Event streams are capped per client address and in total
 * (429 / 503 { error: 'too_many_streams', message }).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { channelKeyFor } from '../../src/contracts/platform.ts';
import type { OriginPolicy } from '../../src/http/origin-policy.ts';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';
import {
  handleOpsRequest,
  type OpsEndpoints,
  type QueueDashboardHandler,
  queueDashboardPath,
} from '../../src/observability/ops-endpoints.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import type { ModelInfoStore } from '../../src/store/model-info-store.ts';
import { rawTextLimit } from '../../src/text/validate-text.ts';
import type { ChannelHub } from './channel-hub.ts';
import { formatByteLimit, pageLimits } from './page-limits.ts';
import {
  BadWebRequestError,
  lingerThenClose,
  readMessageBody,
  WebBodyTooLargeError,
  WebUnsupportedMediaTypeError,
} from './read-message-body.ts';
import { serveStaticFile } from './static-files.ts';
import { WebAccess, type WebUser } from './web-access.ts';

/** What the web chat's HTTP server works with. */
export interface WebServerDependencies {
  pipeline: PipelineContext;
  hub: ChannelHub;
  modelInfo: ModelInfoStore;
  /** This adapter process's id (progress events for its requests come back to it). */
  adapterInstance: string;
  /** The page's language when the browser says nothing. @defaultValue 'zh-CN' */
  defaultLanguage?: 'zh-CN' | 'zh-TW' | 'en';
  /** What `/healthz`, `/readyz` and `/metrics` answer from. */
  ops: OpsEndpoints;
  /** Which Host and Origin are this server's (DNS rebinding and cross-site posts are refused). */
  originPolicy: OriginPolicy;
  /** Bull Board (already behind its token); absent = not mounted. */
  queueDashboard?: QueueDashboardHandler;
  /** Who may use the chat and who each request comes from. @defaultValue everyone, as one user */
  access?: WebAccess;
}

const languageTagPattern = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;
const channelPattern = /^[A-Za-z0-9_-]{1,64}$/;
const clientMessageIdPattern = /^[A-Za-z0-9_-]{1,80}$/;
const openAccess = new WebAccess();

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(text);
}

function preferredLanguage(request: IncomingMessage): string | undefined {
  const tag = request.headers['accept-language']?.split(',')[0]?.split(';')[0]?.trim();
  return tag !== undefined && languageTagPattern.test(tag) ? tag : undefined;
}

/**
 * The largest message body read: an image up to 1 MiB over the image limit in base64 (so a slightly oversized picture
 * still gets its localized reply in the channel) and a text of the longest raw length worth checking, each character
 * JSON-escaped (`\uXXXX`, 6 bytes a UTF-16 unit). A larger body is refused before it is read (its Content-Length) or as
 * soon as it passes the limit. 20 MiB images, 4000 characters: 28.1 MiB.
 */
export function messageBodyLimit(settings: { IMAGE_MAX_BYTES: number; TEXT_MAX_CHARACTERS: number }): number {
  return Math.ceil(((settings.IMAGE_MAX_BYTES + 1024 * 1024) * 4) / 3) + 6 * rawTextLimit(settings.TEXT_MAX_CHARACTERS);
}

async function postMessage(
  dependencies: WebServerDependencies,
  user: WebUser,
  channel: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const { pipeline } = dependencies;
  const imageLimit = pipeline.settings.IMAGE_MAX_BYTES;
  const body = await readMessageBody(request, messageBodyLimit(pipeline.settings));
  const clientMessageId = body.clientMessageId ?? randomUUID();
  if (!clientMessageIdPattern.test(clientMessageId))
    throw new BadWebRequestError('clientMessageId must be 1–80 of A-Z a-z 0-9 - _');
  const attachments = [];
  const image = body.image;
  // The upload is parked only once the message is admitted (not a duplicate, within the rate limits): a flood of
  // repeats or refused posts stores nothing.
  let parkUpload: ((requestId: string) => Promise<void>) | undefined;
  if (image !== undefined) {
    const size = image.bytes.byteLength;
    const uploadKey = size > imageLimit ? 'too-large' : randomUUID();
    if (size <= imageLimit) parkUpload = async () => void (await pipeline.uploads.park(image.bytes, uploadKey));
    attachments.push({
      kind: 'upload' as const,
      uploadKey,
      size,
      ...(image.fileName === undefined ? {} : { fileName: image.fileName }),
      ...(image.mediaType === undefined ? {} : { mediaType: image.mediaType }),
    });
  }
  const languageHint =
    body.language !== undefined && languageTagPattern.test(body.language) ? body.language : preferredLanguage(request);
  const result = await receiveMessage(
    pipeline,
    {
      platform: 'web',
      platformMessageId: `${channel}.${clientMessageId}`,
      channelKey: channelKeyFor('web', channel),
      replyTarget: { channel },
      user,
      text: body.text,
      attachments,
      ...(languageHint === undefined ? {} : { languageHint }),
      adapterInstance: dependencies.adapterInstance,
    },
    parkUpload === undefined ? {} : { onAdmitted: parkUpload },
  );
  if (result.duplicate) sendJson(response, 200, { requestId: result.requestId, duplicate: true });
  else if (result.rateLimited === 'dropped') {
    // No reply will come for it (the channel was told to slow down already this minute): say so now.
    const language = languageHint ?? dependencies.defaultLanguage ?? 'zh-CN';
    sendJson(response, 429, {
      requestId: result.requestId,
      error: 'rate_limited',
      message: errorMessage(language, 'rate_limited'),
    });
  } else sendJson(response, 202, { requestId: result.requestId });
}

async function route(
  dependencies: WebServerDependencies,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const { pipeline, hub } = dependencies;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  const path = url.pathname;

  // Probes carry no data and come from the kubelet by address; everything else must be asked of this server by its
  // own name (a DNS-rebinding page asks under the attacker's name) and changed only from its own pages.
  if (path !== '/healthz' && path !== '/readyz' && !dependencies.originPolicy.allowsHost(request))
    return sendJson(response, 403, { error: 'forbidden_host' });
  if (method !== 'GET' && method !== 'HEAD' && !dependencies.originPolicy.allowsStateChange(request))
    return sendJson(response, 403, { error: 'cross_site_request' });
  if (await handleOpsRequest(dependencies.ops, request, response)) return;
  if (
    dependencies.queueDashboard !== undefined &&
    (path === queueDashboardPath || path.startsWith(`${queueDashboardPath}/`))
  )
    return await dependencies.queueDashboard(request, response);
  const user = await (dependencies.access ?? openAccess).admit(request, response, path);
  if (user === undefined) return;
  if (method === 'GET' && path === '/api/info') {
    const info = await dependencies.modelInfo.read();
    const defaultLanguage = dependencies.defaultLanguage ?? 'zh-CN';
    const demo = info?.demo ?? false;
    return sendJson(response, 200, {
      demo,
      modelId: info?.modelId ?? null,
      defaultLanguage,
      ...(demo ? { banner: t(preferredLanguage(request) ?? defaultLanguage, 'demo.banner') } : {}),
      limits: pageLimits(pipeline.settings),
    });
  }
  if (method === 'GET' && path === '/api/strings') {
    const requested = url.searchParams.get('language') ?? '';
    const language = languageTagPattern.test(requested)
      ? requested
      : (preferredLanguage(request) ?? dependencies.defaultLanguage ?? 'zh-CN');
    return sendJson(response, 200, webStrings(language));
  }
  const image = /^\/api\/images\/([0-9a-f]{64})$/.exec(path);
  if (method === 'GET' && image?.[1] !== undefined) {
    const bytes = await pipeline.images.get(image[1]);
    if (bytes === undefined) return sendJson(response, 404, { error: 'not_found' });
    response.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=86400' });
    response.end(bytes);
    return;
  }
  const channelRoute = /^\/api\/channels\/([^/]+)\/(messages|events|reset|history)$/.exec(path);
  if (channelRoute !== null) {
    const channel = decodeURIComponent(channelRoute[1] ?? '');
    const action = channelRoute[2];
    if (!channelPattern.test(channel))
      return sendJson(response, 400, { error: 'bad_request', message: 'bad channel name' });
    if (method === 'POST' && action === 'messages')
      return await postMessage(dependencies, user, channel, request, response);
    if (method === 'GET' && action === 'events')
      return hub.subscribe(
        channel,
        request,
        response,
        preferredLanguage(request) ?? dependencies.defaultLanguage ?? 'zh-CN',
      );
    if (method === 'POST' && action === 'reset') {
      // Reset goes through the channel's line like any message, so it cannot overtake a question still being answered.
      // Its confirmation is in the page's language (the page names it), else the browser's.
      const named = url.searchParams.get('language') ?? '';
      const resetLanguage = languageTagPattern.test(named) ? named : preferredLanguage(request);
      const result = await receiveMessage(pipeline, {
        platform: 'web',
        platformMessageId: `${channel}.reset-${randomUUID()}`,
        channelKey: channelKeyFor('web', channel),
        replyTarget: { channel },
        user,
        text: '/reset',
        attachments: [],
        ...(resetLanguage === undefined ? {} : { languageHint: resetLanguage }),
        adapterInstance: dependencies.adapterInstance,
      });
      return sendJson(response, 202, { requestId: result.requestId });
    }
    if (method === 'GET' && action === 'history') {
      return sendJson(response, 200, { turns: await pipeline.contexts.load(channelKeyFor('web', channel)) });
    }
    return sendJson(response, 405, { error: 'method_not_allowed' });
  }
  if (method === 'GET' && !path.startsWith('/api/') && (await serveStaticFile(path, response))) return;
  sendJson(response, 404, { error: 'not_found' });
}

/** Creates the web chat's HTTP server (not yet listening). */
export function createWebServer(dependencies: WebServerDependencies): Server {
  return createServer((request, response) => {
    route(dependencies, request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.end();
        return;
      }
      if (error instanceof BadWebRequestError) {
        sendJson(response, 400, { error: 'bad_request', message: error.message });
      } else if (error instanceof WebUnsupportedMediaTypeError) {
        lingerThenClose(request); // the body is not read
        sendJson(response, 415, { error: 'unsupported_media_type', message: error.message });
      } else if (error instanceof WebBodyTooLargeError) {
        const language = preferredLanguage(request) ?? dependencies.defaultLanguage ?? 'zh-CN';
        lingerThenClose(request); // the rest of the body is not read
        const limit = formatByteLimit(dependencies.pipeline.settings.IMAGE_MAX_BYTES);
        sendJson(response, 413, { error: 'image_too_large', message: t(language, 'web.image_too_large', { limit }) });
      } else {
        dependencies.pipeline.logger.error({ error: String(error), url: request.url }, 'web request failed');
        sendJson(response, 500, { error: 'internal' });
      }
    });
  });
}
