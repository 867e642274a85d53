import { request as httpRequest } from 'node:http';

/** What a server answered to a streamed upload, and how much of it was written by then. */
export interface UploadOutcome {
  status: number;
  written: number;
  message: string;
}

/**
 * Streams up to `totalBytes` of 'A' to `url` with `headers` (POST), stopping as soon as the server answers; resolves
 * with the status, the bytes written by then and the response body.
 */
export function uploadUntilAnswered(
  url: string,
  headers: Record<string, string>,
  totalBytes = 100 * 1024 * 1024,
): Promise<UploadOutcome> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    let written = 0;
    let finished = false;
    const request = httpRequest(url, { method: 'POST', headers });
    request.on('response', (response) => {
      finished = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (data: string) => {
        body += data;
      });
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, written, message: body });
        request.destroy();
      });
    });
    request.on('error', (error) => {
      if (!finished) reject(error);
    });
    const pump = () => {
      while (!finished && written < totalBytes) {
        written += chunk.byteLength;
        if (!request.write(chunk)) {
          request.once('drain', pump);
          return;
        }
      }
      if (!finished) request.end();
    };
    pump();
  });
}
