import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's files (written by the web page's own module). */
export const publicDirectory = fileURLToPath(new URL('./public/', import.meta.url));

const mediaTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

/** Serves a file from public/ (index.html for `/`); false when there is no such file. */
export async function serveStaticFile(pathname: string, response: ServerResponse): Promise<boolean> {
  const relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
  const path = normalize(join(publicDirectory, relative));
  if (!path.startsWith(publicDirectory.endsWith(sep) ? publicDirectory : publicDirectory + sep)) return false;
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch {
    return false;
  }
  response.writeHead(200, {
    'content-type': mediaTypes[extname(path)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  response.end(content);
  return true;
}
