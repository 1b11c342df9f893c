import type { IncomingMessage, ServerResponse } from 'node:http';
import { isObject } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';

/** What the client gets in place of an error answer (nginx `error_page`). */
export type ErrorPage =
  | {
      /** The page's body. */
      readonly body: string | Buffer;
      /** @default 'text/html; charset=utf-8' */
      readonly contentType?: string;
      /** nginx `error_page 404 =200 …`: the status to answer with. @default the error's */
      readonly status?: number;
    }
  | {
      /** nginx `error_page 502 https://…`: redirect the client there. */
      readonly redirect: string;
      /** @default 302 */
      readonly status?: 301 | 302 | 303 | 307 | 308;
    }
  | ErrorPageHandler;

/** An error page written by a function: it answers `res` itself. */
export type ErrorPageHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  info: { readonly status: number },
) => void;

/** An error page, checked and ready to send. */
export type ResolvedPage =
  | {
      readonly kind: 'body';
      readonly body: Buffer;
      readonly contentType: string;
      readonly status: number | undefined;
    }
  | { readonly kind: 'redirect'; readonly location: string; readonly status: number }
  | { readonly kind: 'handler'; readonly fn: ErrorPageHandler };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Validates `errorPages`: keys are statuses 300..599, values pages; throws naming the option. */
export function resolveErrorPages(value: unknown): ReadonlyMap<number, ResolvedPage> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new InvalidOptionError('errorPages', 'an object of pages by status', value);
  const pages = new Map<number, ResolvedPage>();
  for (const [key, page] of Object.entries(value)) {
    const path = `errorPages.${key}`;
    const status = Number(key);
    if (!Number.isInteger(status) || status < 300 || status > 599) {
      throw new InvalidOptionError(path, 'a status from 300 to 599 as the key', key);
    }
    pages.set(status, resolvePage(page, path));
  }
  return pages;
}

function resolvePage(page: unknown, path: string): ResolvedPage {
  if (typeof page === 'function') return { kind: 'handler', fn: page as ErrorPageHandler };
  if (!isObject(page))
    throw new InvalidOptionError(path, 'a page { body }, a { redirect } or a function', page);
  if (page.redirect !== undefined) {
    if (
      typeof page.redirect !== 'string' ||
      page.redirect === '' ||
      /[^\t\x20-\x7e\x80-\xff]/.test(page.redirect)
    ) {
      throw new InvalidOptionError(`${path}.redirect`, 'a URL', page.redirect);
    }
    const status = page.status ?? 302;
    if (!REDIRECTS.has(status as number))
      throw new InvalidOptionError(`${path}.status`, 'a redirect status', status);
    return { kind: 'redirect', location: page.redirect, status: status as number };
  }
  if (typeof page.body !== 'string' && !Buffer.isBuffer(page.body)) {
    throw new InvalidOptionError(`${path}.body`, 'a string or a Buffer', page.body);
  }
  const status = page.status;
  if (
    status !== undefined &&
    (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599)
  ) {
    throw new InvalidOptionError(`${path}.status`, 'a status from 200 to 599', status);
  }
  const contentType = page.contentType ?? 'text/html; charset=utf-8';
  if (typeof contentType !== 'string')
    throw new InvalidOptionError(`${path}.contentType`, 'a string', contentType);
  return {
    kind: 'body',
    body: Buffer.isBuffer(page.body) ? page.body : Buffer.from(page.body),
    contentType,
    status: status as number | undefined,
  };
}

/**
 * Sends an error page for `status`; returns the status the client got. A handler that
 * throws is the caller's to report (it answers nothing here).
 */
export function sendPage(
  req: IncomingMessage,
  res: ServerResponse,
  page: ResolvedPage,
  status: number,
): number {
  switch (page.kind) {
    case 'body': {
      const sent = page.status ?? status;
      res.writeHead(sent, { 'content-type': page.contentType, 'content-length': page.body.length });
      res.end(req.method === 'HEAD' ? undefined : page.body);
      return sent;
    }
    case 'redirect':
      res.writeHead(page.status, { location: page.location, 'content-length': 0 });
      res.end();
      return page.status;
    case 'handler':
      page.fn(req, res, { status });
      return res.statusCode;
  }
}
