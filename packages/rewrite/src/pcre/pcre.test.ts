import { describe, expect, it } from 'vitest';
import { PcreTranslationError, translatePcre } from './index.js';
import { compileRegex } from './regex.js';

const match = (pattern: string, subject: string, caseless = false, dialect: 'js' | 're2' = 'js') =>
  compileRegex(pattern, caseless, dialect).exec(subject)?.slice() ?? null;

describe('translatePcre', () => {
  it('matches $ at the end or before a final newline, as PCRE does', () => {
    expect(match('^/a$', '/a\n')).toEqual(['/a']);
    expect(match('^/a$', '/a\n\n')).toBeNull();
    expect(match('^/a\\z', '/a\n')).toBeNull();
  });

  it('lets . match any byte but LF, CR included', () => {
    expect(match('^(.*)$', '/a\rb')).toEqual(['/a\rb', '/a\rb']);
    expect(match('^(.+)', 'x\ny')).toEqual(['x', 'x']);
  });

  it('keeps PCRE \\s to the six ASCII spaces', () => {
    expect(match('\\s', '\u00a0')).toBeNull();
    expect(match('[\\S]', '\u00a0')).toEqual(['\u00a0']);
    expect(match('\\s', '\u000b')).toEqual(['\u000b']);
  });

  it('translates the three named-group spellings and reports the names', () => {
    const t = translatePcre("^/(?P<year>\\d{4})/(?'month'\\d{2})/(?<day>\\d\\d)$");
    expect(t.names).toEqual([undefined, 'year', 'month', 'day']);
    expect(match("^/(?P<year>\\d{4})/(?'month'\\d{2})$", '/2024/05')).toEqual(['/2024/05', '2024', '05']);
  });

  it('applies (?i) at the start as the caseless flag', () => {
    expect(translatePcre('(?i)^/MiXeD/(.*)$').caseless).toBe(true);
    expect(match('(?i)^/MiXeD/(.*)$', '/mixed/a')).toEqual(['/mixed/a', 'a']);
  });

  it('expands POSIX classes and \\Q…\\E', () => {
    expect(match('^[[:digit:]]+\\Q.*\\E$', '42.*')).toEqual(['42.*']);
    expect(match('^[[:^alpha:]]$', '1')).toEqual(['1']);
    expect(match('^[[:^alpha:]]$', 'a')).toBeNull();
  });

  it('treats \\10 as a back-reference only when group 10 exists', () => {
    expect(match('^(a)\\10$', 'a\b')).toEqual(['a\b', 'a']);
  });

  it('refuses what JavaScript cannot do the same way', () => {
    for (const p of [
      'a(?i)b',
      '(?>a)',
      'a*+',
      '\\Ka',
      '(?(1)a|b)',
      '(?R)',
      '(*FAIL)',
      '\\p{L}',
      '(?<n>a)(?<n>b)',
    ]) {
      expect(() => translatePcre(p), p).toThrow(PcreTranslationError);
    }
  });

  it('refuses look-arounds and back-references for RE2', () => {
    expect(() => translatePcre('a(?=b)', { dialect: 're2' })).toThrow('not supported by the RE2 engine');
    expect(() => translatePcre('(a)\\1', { dialect: 're2' })).toThrow('not supported by the RE2 engine');
  });
});

describe('compileRegex with RE2', () => {
  it('matches like the JavaScript translation, captures and all', () => {
    const p = '^(/download/.*)/media/(\\w+)\\.?.*$';
    const s = '/download/a/b/media/song.avi';
    expect(match(p, s, false, 're2')).toEqual(match(p, s));
    expect(match('^/ci/(.*)$', '/CI/\u00e9', true, 're2')).toEqual(['/CI/\u00e9', '\u00e9']);
  });
});
