import type { IncomingMessage } from 'node:http';

/** The request body could not be understood (answered with 400). */
export class BadWebRequestError extends Error {
  override readonly name = 'BadWebRequestError';
}

/** The request body is over the upload limit (answered with 413). */
export class WebBodyTooLargeError extends Error {
  override readonly name = 'WebBodyTooLargeError';
}

/** The body is neither `application/json` nor `multipart/form-data` (answered with 415, before it is read). */
export class WebUnsupportedMediaTypeError extends Error {
  override readonly name = 'WebUnsupportedMediaTypeError';
}

/** A chat message as posted by the page. */
export interface WebMessageBody {
  text: string;
  image?: { bytes: Uint8Array; fileName?: string; mediaType?: string };
  clientMessageId?: string;
  language?: string;
}

/**
 * Reads the whole body, refusing more than `limitBytes`. A refused body is left unread, not destroyed: the caller
 * answers, then {@link lingerThenClose} lets the client read that answer.
 */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limitBytes) {
    return Promise.reject(new WebBodyTooLargeError(`body of ${declared} bytes is over ${limitBytes}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: Error) => {
      request.off('data', onData).off('end', onEnd).off('error', settle).off('aborted', onAborted);
      if (error === undefined) resolve(Buffer.concat(chunks, size));
      else {
        request.pause();
        reject(error);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limitBytes) settle(new WebBodyTooLargeError(`body is over ${limitBytes} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    const onAborted = () => settle(new BadWebRequestError('the client closed the connection mid-body'));
    request.on('data', onData).on('end', onEnd).on('error', settle).on('aborted', onAborted);
  });
}

/**
 * After an early answer (413, 415) to a body still arriving: discards up to `lingerBytes` more of it, for at most
 * `lingerMs`, then drops the connection. Closing at once would make the kernel answer the client's next bytes with a
 * reset, which can discard our answer unread on the client's side (a browser then shows a network error, not the
 * localized refusal); this is nginx's lingering close.
 */
export function lingerThenClose(request: IncomingMessage, lingerBytes = 4 * 1024 * 1024, lingerMs = 2000): void {
  const socket = request.socket;
  let discarded = 0;
  const close = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(close, lingerMs);
  timer.unref();
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.byteLength;
    if (discarded > lingerBytes) close();
  });
  request.once('end', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  request.resume();
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new BadWebRequestError(`${field} must be a string`);
  return value;
}

function decodeBase64Image(value: string): { bytes: Uint8Array; mediaType?: string } {
  const dataUrl = /^data:([^;,]+)?(;base64)?,(.*)$/s.exec(value);
  if (dataUrl !== null) {
    if (dataUrl[2] === undefined) throw new BadWebRequestError('image data URLs must be base64');
    const mediaType = dataUrl[1];
    return { bytes: new Uint8Array(Buffer.from(dataUrl[3] ?? '', 'base64')), ...(mediaType ? { mediaType } : {}) };
  }
  if (!/^[A-Za-z0-9+/=\s_-]*$/.test(value)) throw new BadWebRequestError('image must be base64 or a data: URL');
  return { bytes: new Uint8Array(Buffer.from(value, 'base64')) };
}

/**
 * Parses a message posted as `application/json` `{ text, image (base64 or data: URL), ... }` or as
 * `multipart/form-data`. Any other type is refused before a byte is read: a cross-site form or no-cors fetch can send
 * `text/plain`, which must never pass for JSON.
 */
export async function readMessageBody(request: IncomingMessage, limitBytes: number): Promise<WebMessageBody> {
  const contentType = request.headers['content-type'] ?? '';
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json' && mediaType !== 'multipart/form-data')
    throw new WebUnsupportedMediaTypeError('the body must be application/json or multipart/form-data');
  const body = await readBody(request, limitBytes);
  if (mediaType === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Request('http://localhost/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      }).formData();
    } catch (error) {
      throw new BadWebRequestError(`malformed multipart body: ${(error as Error).message}`);
    }
    const image = form.get('image');
    const text = optionalString(form.get('text') ?? undefined, 'text') ?? '';
    const clientMessageId = optionalString(form.get('clientMessageId') ?? undefined, 'clientMessageId');
    const language = optionalString(form.get('language') ?? undefined, 'language');
    const message: WebMessageBody = { text };
    if (clientMessageId !== undefined) message.clientMessageId = clientMessageId;
    if (language !== undefined) message.language = language;
    if (image !== null && typeof image !== 'string' && image.size > 0) {
      message.image = {
        bytes: new Uint8Array(await image.arrayBuffer()),
        ...(image.name ? { fileName: image.name } : {}),
        ...(image.type ? { mediaType: image.type } : {}),
      };
    }
    return message;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new BadWebRequestError('body must be JSON or multipart/form-data');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new BadWebRequestError('body must be an object');
  const fields = json as Record<string, unknown>;
  const message: WebMessageBody = { text: optionalString(fields['text'], 'text') ?? '' };
  const clientMessageId = optionalString(fields['clientMessageId'], 'clientMessageId');
  const language = optionalString(fields['language'], 'language');
  const imageName = optionalString(fields['imageName'], 'imageName');
  if (clientMessageId !== undefined) message.clientMessageId = clientMessageId;
  if (language !== undefined) message.language = language;
  const image = optionalString(fields['image'], 'image');
  if (image !== undefined) {
    message.image = { ...decodeBase64Image(image), ...(imageName === undefined ? {} : { fileName: imageName }) };
  }
  return message;
}
