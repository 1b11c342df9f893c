/**
 * nginx's static location tree: exact (`=`) and prefix (`^~`, plain) locations sorted,
 * same-name exact and prefix joined, each prefix holding the locations it is a prefix of,
 * then balanced into a ternary tree (left, right, and the "inclusive" subtree). The search
 * walks it like nginx does, so its answers (and its few surprises, such as when a missing
 * trailing slash redirects) are nginx's; its cost grows with the logarithm of the number
 * of prefix locations, not with the number.
 * @see src/http/ngx_http.c ngx_http_init_static_location_trees
 * @see src/http/ngx_http_core_module.c ngx_http_core_find_static_location
 */

/** A static location as the tree needs it. */
export interface StaticLocation {
  /** The prefix or exact path (bytes). */
  readonly name: string;
  readonly exact: boolean;
  /** `proxy_pass` in a location whose name ends in `/`: a request for the name without it redirects. */
  readonly autoRedirect: boolean;
}

/** The outcome of a search. */
export interface StaticMatch<L> {
  /** `ok` exact match; `again` longest prefix; `done` redirect to add a slash; `declined` none. */
  rc: 'ok' | 'again' | 'done' | 'declined';
  location: L | undefined;
}

interface Entry<L> {
  name: string;
  exact: L | undefined;
  inclusive: L | undefined;
  list: Entry<L>[];
}

interface Node<L> {
  name: string;
  exact: L | undefined;
  inclusive: L | undefined;
  autoRedirect: boolean;
  left: Node<L> | undefined;
  right: Node<L> | undefined;
  tree: Node<L> | undefined;
}

/**
 * nginx's `ngx_filename_cmp` on Linux: byte order, except that `/` sorts below every
 * other byte, and the end of a name below `/`.
 */
function cmp(a: string, aOff: number, b: string, bOff: number, n: number): number {
  for (let i = 0; i < n; i++) {
    let c1 = aOff + i < a.length ? a.charCodeAt(aOff + i) : 0;
    let c2 = bOff + i < b.length ? b.charCodeAt(bOff + i) : 0;
    if (c1 === c2) {
      if (c1 === 0) return 0;
      continue;
    }
    if (c1 === 0 || c2 === 0) return c1 - c2;
    c1 = c1 === 0x2f ? 0 : c1;
    c2 = c2 === 0x2f ? 0 : c2;
    return c1 - c2;
  }
  return 0;
}

/** A duplicate exact or prefix location, reported with the second one. */
export class DuplicateLocationError<L> extends Error {
  readonly location: L;
  constructor(name: string, location: L) {
    super(`duplicate location "${name}"`);
    this.location = location;
  }
}

/** Builds the tree once; `find` only reads it. */
export class LocationTree<L extends StaticLocation> {
  private readonly root: Node<L> | undefined;

  constructor(locations: readonly L[]) {
    // Sort as ngx_http_cmp_locations: by name, the end of a name first, "=" before a
    // prefix of the same name. Array#sort is stable, as nginx's queue sort is.
    const sorted = [...locations].sort((x, y) => {
      const rc = cmp(x.name, 0, y.name, 0, Math.min(x.name.length, y.name.length) + 1);
      if (rc === 0 && !x.exact && y.exact) return 1;
      if (rc === 0 && x.exact && !y.exact) return -1;
      return rc;
    });

    // Join an exact and a prefix location of the same name into one entry.
    const entries: Entry<L>[] = [];
    for (const loc of sorted) {
      const prev = entries[entries.length - 1];
      if (
        prev !== undefined &&
        prev.name.length === loc.name.length &&
        cmp(prev.name, 0, loc.name, 0, loc.name.length) === 0
      ) {
        if (loc.exact ? prev.exact : prev.inclusive) throw new DuplicateLocationError(loc.name, loc);
        if (loc.exact) prev.exact = loc;
        else prev.inclusive = loc;
        continue;
      }
      entries.push({
        name: loc.name,
        exact: loc.exact ? loc : undefined,
        inclusive: loc.exact ? undefined : loc,
        list: [],
      });
    }

    nest(entries);
    this.root = build(entries, 0);
  }

  /** Searches the tree for a URI (bytes), as ngx_http_core_find_static_location. */
  find(uri: string, onTest?: (name: string) => void): StaticMatch<L> {
    let node = this.root;
    let off = 0;
    let len = uri.length;
    let rc: StaticMatch<L>['rc'] = 'declined';
    let location: L | undefined;
    while (node !== undefined) {
      onTest?.(node.name);
      const n = Math.min(len, node.name.length);
      const c = cmp(uri, off, node.name, 0, n);
      if (c !== 0) {
        node = c < 0 ? node.left : node.right;
        continue;
      }
      if (len > node.name.length) {
        if (node.inclusive !== undefined) {
          location = node.inclusive;
          rc = 'again';
          node = node.tree;
          off += n;
          len -= n;
          continue;
        }
        node = node.right;
        continue;
      }
      if (len === node.name.length) {
        if (node.exact !== undefined) return { rc: 'ok', location: node.exact };
        return { rc: 'again', location: node.inclusive };
      }
      if (len + 1 === node.name.length && node.autoRedirect) {
        location = node.exact ?? node.inclusive;
        rc = 'done';
      }
      node = node.left;
    }
    return { rc, location };
  }
}

/** Moves the locations a prefix is a prefix of into its list (ngx_http_create_locations_list). */
function nest<L>(entries: Entry<L>[]): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry<L>;
    if (e.inclusive === undefined) continue;
    let j = i + 1;
    while (j < entries.length) {
      const x = entries[j] as Entry<L>;
      if (e.name.length > x.name.length || cmp(e.name, 0, x.name, 0, e.name.length) !== 0) break;
      j++;
    }
    if (j === i + 1) continue;
    e.list = entries.splice(i + 1, j - i - 1);
    nest(e.list);
  }
}

/** Balances a sorted list on its middle entry (ngx_http_create_locations_tree). */
function build<L extends StaticLocation>(entries: Entry<L>[], prefix: number): Node<L> | undefined {
  if (entries.length === 0) return undefined;
  const mid = entries.length >> 1;
  const e = entries[mid] as Entry<L>;
  return {
    name: e.name.slice(prefix),
    exact: e.exact,
    inclusive: e.inclusive,
    autoRedirect: (e.exact?.autoRedirect ?? false) || (e.inclusive?.autoRedirect ?? false),
    left: build(entries.slice(0, mid), prefix),
    right: build(entries.slice(mid + 1), prefix),
    tree: build(e.list, e.name.length),
  };
}
