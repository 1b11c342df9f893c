import { hasCode } from '@switchyard/internals';
import { Peer, type PeerPatch } from '../peer/index.js';
import type { Tracking } from '../stats/track.js';
import { readObject } from './body.js';
import {
  ApiError,
  badServerId,
  formatError,
  pathNotFound,
  serverNotFound,
  upstreamNotFound,
} from './errors.js';
import { serverJson, serversJson, upstreamJson } from './json.js';
import { parseServerBody, type ServerBody, serverOptions, serverUrl } from './params.js';
import { noContent, ok, type Result, type Route } from './reply.js';

/**
 * `/http/upstreams/{name}[/servers[/{id}]]`: `segs` from the name on. The group is looked
 * up first, so a path under a missing group answers `UpstreamNotFound` whatever follows.
 */
export function upstreamRoute(
  t: Tracking | undefined,
  segs: readonly string[],
  maxBodyBytes: number,
): Route | ApiError {
  if (t === undefined) return upstreamNotFound();
  const name = segs[0] as string;
  const up = t.upstream;
  if (segs.length === 1) {
    return {
      GET: () => ok(upstreamJson(t, name)),
      DELETE: () => {
        up.resetStats();
        for (const p of up.peers) t.resetDowntime(p);
        return noContent;
      },
    };
  }
  if (segs[1] !== 'servers' || segs.length > 3) return pathNotFound();
  if (segs.length === 2) {
    return {
      GET: () => ok(serversJson(t, up)),
      POST: async (req) => {
        const body = await readObject(req, maxBodyBytes);
        if (body instanceof ApiError) return body;
        return addServer(t, body);
      },
    };
  }
  const idText = segs[2] as string;
  const find = (): Peer | ApiError => {
    if (!/^\d{1,15}$/.test(idText)) return badServerId();
    return t.byId(Number(idText)) ?? serverNotFound(idText);
  };
  return {
    GET: () => {
      const peer = find();
      return peer instanceof ApiError ? peer : ok(serverJson(t, peer));
    },
    PATCH: async (req) => {
      const peer = find();
      if (peer instanceof ApiError) return peer;
      const body = await readObject(req, maxBodyBytes);
      if (body instanceof ApiError) return body;
      return patchServer(t, peer, body);
    },
    DELETE: () => {
      const peer = find();
      if (peer instanceof ApiError) return peer;
      try {
        up.remove(peer.id);
      } catch (err) {
        if (!hasCode(err, 'SWY_ERR_INVALID_OPTION')) throw err;
        // switchyard keeps at least one server in a group.
        return new ApiError('UpstreamServerImmutable', `server "${idText}" not removable`);
      }
      return ok(serversJson(t, up));
    },
  };
}

/** `POST …/servers`: adds a server (NGINX Plus answers 201 with its configuration). */
function addServer(t: Tracking, body: Record<string, unknown>): Result {
  const parsed = parseServerBody(body);
  if (parsed instanceof ApiError) return parsed;
  if (parsed.server === undefined) return formatError('missing "server" argument');
  const up = t.upstream;
  let peer: Peer;
  try {
    peer = up.add(serverOptions(parsed as ServerBody & { server: string }));
  } catch (err) {
    if (hasCode(err, 'SWY_ERR_PEER_EXISTS')) return new ApiError('EntryExists');
    if (hasCode(err, 'SWY_ERR_INVALID_OPTION')) {
      return new ApiError('UpstreamBadAddress', `invalid address "${parsed.server}"`);
    }
    throw err;
  }
  if (parsed.drain === true) up.drain(peer.id);
  return { status: 201, body: serverJson(t, peer) };
}

/** `PATCH …/servers/{id}`: changes parameters, drains, or undrains. */
function patchServer(t: Tracking, peer: Peer, body: Record<string, unknown>): Result {
  const parsed = parseServerBody(body);
  if (parsed instanceof ApiError) return parsed;
  const id = t.idOf(peer);
  if (parsed.id !== undefined && parsed.id !== id) return formatError('invalid "id" value');
  if (parsed.server !== undefined && peerIdOf(parsed.server) !== peer.id) {
    return new ApiError('UpstreamServerImmutable', `server "${id}" address is immutable`);
  }
  if (parsed.backup !== undefined && parsed.backup !== peer.backup) {
    return formatError('"backup" cannot be changed');
  }
  const up = t.upstream;
  // `route: ""` clears the route; the upstream applies a patch whole or not at all.
  const patch: PeerPatch =
    parsed.clearRoute && peer.route !== undefined ? { ...parsed.patch, route: null } : parsed.patch;
  try {
    if (Object.keys(patch).length > 0) up.patch(peer.id, patch);
  } catch (err) {
    if (hasCode(err, 'SWY_ERR_INVALID_OPTION')) return formatError(err.message);
    throw err;
  }
  if (parsed.drain === true && !peer.draining) up.drain(peer.id);
  if (parsed.drain === false) up.undrain(peer.id);
  return ok(serverJson(t, peer));
}

/**
 * The id of the peer a `server` value names, as the upstream names it (`host:port`, or
 * `unix:/path` for a unix socket); `undefined` when it does not parse.
 */
function peerIdOf(server: string): string | undefined {
  try {
    return new Peer(serverUrl(server)).id;
  } catch {
    return undefined;
  }
}
