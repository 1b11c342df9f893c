import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
import type { TraceStep } from './trace.js';

const config = `
    set $who guest;
    location = /exact { return 200 e; }
    location ^~ /static/ { return 200 s; }
    location /api/ { proxy_pass http://u; }
    location ~ ^/img/(?<name>[a-z]+)\\.png$ { return 200 $name; }
    location ~* \\.JPG$ { return 200 jpg; }
    location / {
      if ($arg_x ~ ^(\\d+)$) { set $who user$1; }
      rewrite ^/old/(.*)$ /new/$1 last;
      return 200 $who;
    }
`;

const IMG = '~ ^/img/(?<name>[a-z]+)\\.png$';
const JPG = '~* \\.JPG$';

/** The steps of the location search for `uri`. */
function search(uri: string): TraceStep[] {
  const steps = compileNginx(config).trace({ uri, headers: { host: 'h' } }).steps;
  return steps.filter((s) => s.kind === 'location' || s.kind === 'location-regex');
}

describe('trace: the location search, as ngx_http_core_find_location takes it', () => {
  it('stops at an exact match, and at a ^~ prefix, without trying the regexes', () => {
    expect(search('/exact')).toEqual([{ kind: 'location', location: '= /exact', how: 'exact' }]);
    expect(search('/static/a.png')).toEqual([{ kind: 'location', location: '^~ /static/', how: 'prefix' }]);
  });

  it('redirects to the slash of a proxied prefix location', () => {
    expect(search('/api')).toEqual([{ kind: 'location', location: '/api/', how: 'add-slash' }]);
  });

  it('tries the regexes in order, with their captures, then falls back to the longest prefix', () => {
    expect(search('/img/cat.png')).toEqual([
      { kind: 'location-regex', location: IMG, matched: true, captures: ['/img/cat.png', 'cat'] },
      { kind: 'location', location: IMG, how: 'regex' },
    ]);
    expect(search('/x.jpg')).toEqual([
      { kind: 'location-regex', location: IMG, matched: false },
      { kind: 'location-regex', location: JPG, matched: true, captures: ['.jpg'] },
      { kind: 'location', location: JPG, how: 'regex' },
    ]);
    expect(search('/none')).toEqual([
      { kind: 'location-regex', location: IMG, matched: false },
      { kind: 'location-regex', location: JPG, matched: false },
      { kind: 'location', location: '/', how: 'prefix' },
    ]);
  });

  it('says when no location matches', () => {
    const engine = compileNginx('location /a/ { return 200 a; }');
    const steps = engine.trace({ uri: '/b', headers: { host: 'h' } }).steps;
    expect(steps.filter((s) => s.kind === 'location')).toEqual([
      { kind: 'location', location: undefined, how: 'none' },
    ]);
  });
});

describe('trace: every step of a request that is rewritten', () => {
  it('records directives, regexes, conditions, variables and the new cycle', () => {
    const t = compileNginx(config).trace({ uri: '/old/a?x=12', headers: { host: 'h' } });
    expect(t.result).toEqual({ action: 'return', status: 200, body: 'user12' });
    expect(t.cycles).toBe(2);
    const location = [
      { kind: 'location-regex', location: IMG, matched: false },
      { kind: 'location-regex', location: JPG, matched: false },
      { kind: 'location', location: '/', how: 'prefix' },
    ];
    const ifBlock = [
      { kind: 'directive', text: 'if ($arg_x ~ ^(\\d+)$)', line: 9, column: 7 },
      { kind: 'regex', pattern: '^(\\d+)$', subject: '12', matched: true, captures: ['12', '12'] },
      { kind: 'condition', value: true },
      { kind: 'directive', text: 'set $who user$1;', line: 9, column: 31 },
      { kind: 'set', variable: '$who', value: 'user12' },
      { kind: 'directive', text: 'rewrite ^/old/(.*)$ /new/$1 last;', line: 10, column: 7 },
    ];
    expect(t.steps).toEqual([
      { kind: 'request', uri: '/old/a', args: 'x=12', requestUri: '/old/a?x=12' },
      { kind: 'phase', phase: 'server-rewrite', cycle: 0 },
      { kind: 'directive', text: 'set $who guest;', line: 2, column: 5 },
      { kind: 'set', variable: '$who', value: 'guest' },
      { kind: 'phase', phase: 'find-location', cycle: 1 },
      ...location,
      { kind: 'phase', phase: 'location-rewrite', cycle: 1 },
      ...ifBlock,
      { kind: 'regex', pattern: '^/old/(.*)$', subject: '/old/a', matched: true, captures: ['/old/a', 'a'] },
      { kind: 'rewritten', uri: '/new/a', args: 'x=12' },
      { kind: 'cycle', cycle: 2, uriChangesLeft: 10 },
      { kind: 'phase', phase: 'find-location', cycle: 2 },
      ...location,
      { kind: 'phase', phase: 'location-rewrite', cycle: 2 },
      ...ifBlock,
      { kind: 'regex', pattern: '^/old/(.*)$', subject: '/new/a', matched: false },
      { kind: 'directive', text: 'return 200 $who;', line: 11, column: 7 },
    ]);
  });

  it('records a condition that does not hold, and no set after it', () => {
    const t = compileNginx(config).trace({ uri: '/?x=no', headers: { host: 'h' } });
    expect(t.steps.filter((s) => s.kind === 'regex' || s.kind === 'condition' || s.kind === 'set')).toEqual([
      { kind: 'set', variable: '$who', value: 'guest' },
      { kind: 'regex', pattern: '^(\\d+)$', subject: 'no', matched: false },
      { kind: 'condition', value: false },
      { kind: 'regex', pattern: '^/old/(.*)$', subject: '/', matched: false },
    ]);
    expect(t.result).toEqual({ action: 'return', status: 200, body: 'guest' });
  });

  it('agrees with evaluate', () => {
    const engine = compileNginx(config);
    for (const uri of ['/exact', '/static/a', '/api', '/img/cat.png', '/x.JPG', '/old/a?x=1', '/none']) {
      expect(engine.trace({ uri, headers: { host: 'h' } }).result, uri).toEqual(
        engine.evaluate({ uri, headers: { host: 'h' } }),
      );
    }
  });
});
