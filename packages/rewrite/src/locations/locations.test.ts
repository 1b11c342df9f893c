import { describe, expect, it } from 'vitest';
import { DuplicateLocationError, LocationTree, type StaticLocation } from './index.js';

const loc = (name: string, exact = false, autoRedirect = false): StaticLocation => ({
  name,
  exact,
  autoRedirect,
});

describe('LocationTree', () => {
  const locations = [
    loc('/'),
    loc('/documents/'),
    loc('/documents/sub/deeper/'),
    loc('/images/'),
    loc('/exact', true),
    loc('/exact'),
    loc('/api/', false, true),
    loc('/api-v2'),
    loc('/pre'),
  ];
  const tree = new LocationTree(locations);
  const find = (uri: string) => {
    const m = tree.find(uri);
    return [m.rc, m.location?.name, m.location?.exact];
  };

  it('finds the exact location before a prefix of the same name', () => {
    expect(find('/exact')).toEqual(['ok', '/exact', true]);
    expect(find('/exactly')).toEqual(['again', '/exact', false]);
  });

  it('finds the longest prefix', () => {
    expect(find('/documents/sub/deeper/x')).toEqual(['again', '/documents/sub/deeper/', false]);
    expect(find('/documents/sub/x')).toEqual(['again', '/documents/', false]);
    expect(find('/documents')).toEqual(['again', '/', false]);
    expect(find('/prefix')).toEqual(['again', '/pre', false]);
    expect(find('/api-v2/x')).toEqual(['again', '/api-v2', false]);
  });

  it('asks for a trailing slash where proxy_pass set auto_redirect', () => {
    expect(find('/api')).toEqual(['done', '/api/', false]);
    expect(find('/images')).toEqual(['again', '/', false]);
  });

  it('declines when nothing matches', () => {
    expect(new LocationTree([loc('/a/')]).find('/b').rc).toBe('declined');
  });

  it('refuses two prefix locations of one name', () => {
    expect(() => new LocationTree([loc('/a'), loc('/b'), loc('/a')])).toThrow(DuplicateLocationError);
  });

  it('searches many prefixes in a few steps', () => {
    const many = Array.from({ length: 1024 }, (_, i) => loc(`/p${i}/`));
    const t = new LocationTree(many);
    let steps = 0;
    expect(t.find('/p777/x', () => steps++).location?.name).toBe('/p777/');
    expect(steps).toBeLessThanOrEqual(12);
  });
});
