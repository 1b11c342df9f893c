import { describe, expect, it } from 'vitest';
import {
  boundedLoadHash,
  hash,
  InvalidOptionError,
  leastTime,
  memorySessionStore,
  random,
  redisSessionStore,
  stickyCookie,
  stickyLearn,
  stickyRoute,
} from './index.js';
import { movedKeys, simulate } from './tools.js';

// A misspelt option must not pass silently: every factory refuses keys its options type lacks.
const factories: [string, (o: never) => unknown][] = [
  ['boundedLoadHash', boundedLoadHash],
  ['hash', hash],
  ['random', random],
  ['leastTime', leastTime],
  ['stickyCookie', stickyCookie],
  ['stickyRoute', stickyRoute],
  ['stickyLearn', stickyLearn],
  ['memorySessionStore', memorySessionStore],
  ['redisSessionStore', redisSessionStore],
  ['simulate', simulate],
];

describe('unknown options', () => {
  for (const [name, make] of factories) {
    it(`${name}() names the unknown key and lists the known ones`, () => {
      expect(() => make({ consistant: true } as never)).toThrow(InvalidOptionError);
      expect(() => make({ consistant: true } as never)).toThrow(/^consistant: unknown option \(known: \w+/);
    });
  }

  it('movedKeys() refuses an unknown key of its options', () => {
    const setup = { balancer: () => hash(), peers: [] };
    expect(() => movedKeys(setup, setup, [], { contxt: 1 } as never)).toThrow(
      /options\.contxt: unknown option/,
    );
  });
});
