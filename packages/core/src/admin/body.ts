import type { IncomingMessage } from 'node:http';
import { isObject } from '@switchyard/internals';
import { ApiError, jsonError } from './errors.js';

/** `application/json`, or a JSON-based type such as `application/merge-patch+json`. */
const JSON_TYPE = /^\s*application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads a write's body, a JSON object of at most `maxBytes`: NGINX Plus answers 415
 * `JsonError` to anything else. A body a parser such as `express.json()` already read is
 * taken as it left it.
 */
export async function readObject(
  req: IncomingMessage,
  maxBytes: number,
): Promise<Record<string, unknown> | ApiError> {
  // JSON only: a browser can send text/plain or a form to another site without asking
  // first (no CORS preflight), but not application/json.
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) return new ApiError('UnsupportedMediaType');
  let value: unknown;
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed !== undefined && !Buffer.isBuffer(parsed) && typeof parsed !== 'string') {
    // A body parser (express.json()) got there first.
    value = parsed;
  } else {
    let text: string;
    if (req.readableEnded) {
      text = Buffer.isBuffer(parsed) ? parsed.toString('utf8') : typeof parsed === 'string' ? parsed : '';
    } else {
      const read = await readBody(req, maxBytes);
      if (read instanceof ApiError) return read;
      text = read;
    }
    try {
      value = JSON.parse(text);
    } catch {
      return jsonError();
    }
  }
  return isObject(value) ? value : jsonError();
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<string | ApiError> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        // Read (and drop) the rest, so the connection can carry the answer.
        resolve(new ApiError('RequestEntityTooLarge'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
      done = true;
    });
    req.on('error', () => {
      if (!done) resolve(new ApiError('BodyReadError'));
      done = true;
    });
  });
}
