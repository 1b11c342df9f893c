import type { IncomingMessage } from 'node:http';
import type { ApiError } from './errors.js';

/** A route's answer: a status and a JSON body (`undefined` = none). */
export interface Reply {
  status: number;
  body?: unknown;
}

/** What an action answers: a reply, or an error in NGINX Plus's shape. */
export type Result = Reply | ApiError;

/** Answers one method of one path. */
export type Action = (req: IncomingMessage) => Result | Promise<Result>;

/** The methods a path supports (`HEAD` is answered as `GET`). */
export type Route = Partial<Record<'GET' | 'POST' | 'PATCH' | 'DELETE', Action>>;

/** 200 with this body. */
export const ok = (body: unknown): Reply => ({ status: 200, body });

/** 204, no body. */
export const noContent: Reply = { status: 204 };
