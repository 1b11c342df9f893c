import type { RewriteResult } from '../types.js';

/**
 * One step of a dry run ({@link RewriteEngine.trace}). Strings are byte strings, as the
 * engine sees them.
 */
export type TraceStep =
  /** The request as nginx reads it: `$uri` decoded and normalised, `$args`. */
  | { kind: 'request'; uri: string; args: string; requestUri: string }
  /** A phase starts: server-level directives, location search, the location's directives. */
  | { kind: 'phase'; phase: 'server-rewrite' | 'find-location' | 'location-rewrite'; cycle: number }
  /** A regex location was tried on `$uri`. */
  | { kind: 'location-regex'; location: string; matched: boolean; captures?: (string | undefined)[] }
  /** The location search ended. */
  | {
      kind: 'location';
      location: string | undefined;
      how: 'exact' | 'prefix' | 'regex' | 'none' | 'add-slash';
    }
  /** A directive runs (rendered back as nginx text). */
  | { kind: 'directive'; text: string; line?: number; column?: number }
  /** A `rewrite` or `if` regex was tried. */
  | {
      kind: 'regex';
      pattern: string;
      subject: string;
      matched: boolean;
      captures?: (string | undefined)[];
    }
  /** An `if` condition was evaluated. */
  | { kind: 'condition'; value: boolean }
  /** A `set` stored a value. */
  | { kind: 'set'; variable: string; value: string }
  /** A `rewrite` changed the URI (and maybe the arguments). */
  | { kind: 'rewritten'; uri: string; args: string }
  /** `last` or a rewrite without flag: the location search starts again. */
  | { kind: 'cycle'; cycle: number; uriChangesLeft: number }
  /** An internal error (a bug): the engine answered 500 instead of throwing. */
  | { kind: 'error'; message: string };

/** A dry run: the decision and how it was reached. */
export interface RewriteTrace {
  result: RewriteResult;
  steps: TraceStep[];
  /** How many times the locations were searched (1 without `last`). */
  cycles: number;
}
