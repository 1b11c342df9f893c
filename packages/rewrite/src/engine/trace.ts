import type { RewriteResult } from '../types.js';

/**
 * One step of a dry run ({@link RewriteEngine.trace}). Strings are byte strings, as the
 * engine sees them.
 */
export type TraceStep =
  /** The request as nginx reads it: `$uri` decoded and normalised, `$args`. */
  | {
      /** Discriminant: the request was read. */
      kind: 'request';
      /** `$uri`: the path, percent-decoded, `//` merged, `.` and `..` resolved. */
      uri: string;
      /** `$args`: the query string without its `?`; `''` when there is none. */
      args: string;
      /** `$request_uri`: the request-target as received, before decoding. */
      requestUri: string;
    }
  /** A phase starts: server-level directives, location search, the location's directives. */
  | {
      /** Discriminant: a phase starts. */
      kind: 'phase';
      /**
       * `server-rewrite`: the `server {}` level directives (nginx's SERVER_REWRITE phase);
       * `find-location`: the location search; `location-rewrite`: the matched location's
       * directives (REWRITE phase).
       */
      phase: 'server-rewrite' | 'find-location' | 'location-rewrite';
      /** The location search this phase belongs to, from 1; 0 for `server-rewrite`. */
      cycle: number;
    }
  /** A regex location was tried on `$uri`. */
  | {
      /** Discriminant: a regex location was tried. */
      kind: 'location-regex';
      /** The location as written after `location`, e.g. `~* \.jpg$`. */
      location: string;
      /** Whether its regex matched `$uri`. */
      matched: boolean;
      /** On a match: `$0`, `$1`, …; `undefined` for a group that took no part. */
      captures?: (string | undefined)[];
    }
  /** The location search ended. */
  | {
      /** Discriminant: the location search ended. */
      kind: 'location';
      /** The location chosen, as written after `location`; `undefined` when none matched. */
      location: string | undefined;
      /**
       * How it was chosen: `exact` an `=` location; `prefix` the longest matching prefix (it
       * was `^~`, or no regex location matched); `regex` the first regex location that
       * matched; `none` no location matched; `add-slash` `$uri` is the path of a `proxy_pass`
       * location without its trailing `/`, so nginx answers 301 with the slash added.
       */
      how: 'exact' | 'prefix' | 'regex' | 'none' | 'add-slash';
    }
  /** A directive runs (rendered back as nginx text). */
  | {
      /** Discriminant: a directive runs. */
      kind: 'directive';
      /** The directive as nginx text; for an `if`, only `if (…)`. */
      text: string;
      /** Its line in the nginx text it was parsed from (1-based); absent for rules built in code. */
      line?: number;
      /** Its column in that text (1-based); absent for rules built in code. */
      column?: number;
    }
  /** A `rewrite` or `if` regex was tried. */
  | {
      /** Discriminant: a `rewrite` or `if` regex was tried. */
      kind: 'regex';
      /** The PCRE pattern as written. */
      pattern: string;
      /** The string tested: `$uri` for `rewrite`, the variable's value for `if`. */
      subject: string;
      /** Whether the pattern matched. */
      matched: boolean;
      /** On a match: `$0`, `$1`, …; `undefined` for a group that took no part. */
      captures?: (string | undefined)[];
    }
  /** An `if` condition was evaluated. */
  | {
      /** Discriminant: an `if` condition was evaluated. */
      kind: 'condition';
      /** Whether the condition held, so the block's directives run. */
      value: boolean;
    }
  /** A `set` stored a value. */
  | {
      /** Discriminant: a `set` ran. */
      kind: 'set';
      /** The variable, with its `$` (`$args` changes the query string). */
      variable: string;
      /** The value stored, after variables and captures were substituted. */
      value: string;
    }
  /** A `rewrite` changed the URI (and maybe the arguments). */
  | {
      /** Discriminant: a `rewrite` changed the URI. */
      kind: 'rewritten';
      /** The new `$uri`. */
      uri: string;
      /**
       * `$args` after the rewrite: the replacement's own query (after its `?`) followed by
       * the old arguments; none of the old ones when the replacement ends in `?`.
       */
      args: string;
    }
  /** `last` or a rewrite without flag: the location search starts again. */
  | {
      /** Discriminant: the location search starts again. */
      kind: 'cycle';
      /** The number of the search that starts now (2 for the first repeat). */
      cycle: number;
      /**
       * URI changes still allowed: nginx allows 10 and answers 500 ("rewrite or internal
       * redirection cycle") when this reaches 0.
       */
      uriChangesLeft: number;
    }
  /** An internal error (a bug): the engine answered 500 instead of throwing. */
  | {
      /** Discriminant: an internal error. */
      kind: 'error';
      /** The message of the error that was caught. */
      message: string;
    };

/** A dry run: the decision and how it was reached. */
export interface RewriteTrace {
  /** The decision, the same that {@link RewriteEngine.evaluate} returns for the request. */
  result: RewriteResult;
  /** What the engine did, in order. */
  steps: TraceStep[];
  /** How many times the locations were searched (1 without `last`). */
  cycles: number;
}
