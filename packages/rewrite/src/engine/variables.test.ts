import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
import type { RewriteRequest } from '../types.js';

/** The body of `return 200 "<template>"` for `request`. */
function value(template: string, request: Partial<RewriteRequest> = {}, serverName?: string): string {
  const engine = compileNginx(`return 200 "${template}";`, serverName === undefined ? {} : { serverName });
  const r = engine.evaluate({ uri: '/', headers: { host: 'h' }, ...request });
  if (r.action !== 'return') throw new Error(`not a return: ${JSON.stringify(r)}`);
  return r.body ?? '';
}

/** `$proxy_host|$proxy_port` as proxy_set_header sends them to `target`. */
function proxyVars(target: string): string | undefined {
  const engine = compileNginx(
    `location / { proxy_pass ${target}; proxy_set_header X-P "$proxy_host|$proxy_port"; }`,
  );
  const r = engine.evaluate({ uri: '/', headers: { host: 'h' } });
  return r.action === 'pass' ? r.setHeaders?.find((h) => h.name === 'X-P')?.value : undefined;
}

describe('built-in variables', () => {
  it('reads the connection: scheme, https, ports and addresses', () => {
    expect(value('[$scheme][$https][$server_port]')).toBe('[http][][80]');
    expect(value('[$scheme][$https][$server_port]', { scheme: 'https' })).toBe('[https][on][443]');
    expect(value('[$server_port]', { scheme: 'https', port: 8443 })).toBe('[8443]');
    expect(value('[$remote_addr][$server_addr]')).toBe('[][localhost]');
    expect(value('[$remote_addr][$server_addr]', { remoteAddr: '10.0.0.9', serverAddr: '10.0.0.1' })).toBe(
      '[10.0.0.9][10.0.0.1]',
    );
    expect(value('[$server_name]', {}, 'example.test')).toBe('[example.test]');
    expect(value('[$request_method]', { method: 'PUT' })).toBe('[PUT]');
  });

  it('reads $content_type and $content_length from the request headers', () => {
    const headers = { host: 'h', 'content-type': 'text/plain', 'Content-Length': '12' };
    expect(value('[$content_type][$content_length]', { headers })).toBe('[text/plain][12]');
    expect(value('[$content_type][$content_length]')).toBe('[][]');
  });

  it('appends the client to X-Forwarded-For in $proxy_add_x_forwarded_for', () => {
    const remoteAddr = '10.0.0.9';
    expect(value('$proxy_add_x_forwarded_for', { remoteAddr })).toBe('10.0.0.9');
    expect(
      value('$proxy_add_x_forwarded_for', { remoteAddr, headers: { host: 'h', 'x-forwarded-for': [] } }),
    ).toBe('10.0.0.9');
    expect(
      value('$proxy_add_x_forwarded_for', {
        remoteAddr,
        headers: { host: 'h', 'x-forwarded-for': ['a', 'b'] },
      }),
    ).toBe('a, b, 10.0.0.9');
  });

  it('gives $proxy_host without the default port of the scheme, as ngx_http_proxy_set_vars', () => {
    expect(proxyVars('http://u')).toBe('u|80');
    expect(proxyVars('http://u:80')).toBe('u|80');
    expect(proxyVars('http://u:8080')).toBe('u:8080|8080');
    expect(proxyVars('https://u')).toBe('u|443');
    expect(proxyVars('https://u:443')).toBe('u|443');
    expect(proxyVars('https://u:80')).toBe('u:80|80');
    expect(proxyVars('http://[::1]:80')).toBe('[::1]|80');
    expect(proxyVars('http://[::1]:81')).toBe('[::1]:81|81');
  });

  it('knows no $proxy_host outside a proxied request', () => {
    expect(value('[$proxy_host][$proxy_port]')).toBe('[][]');
  });
});

describe('$http_NAME', () => {
  it('reads the first line of a header, any case, dashes as underscores', () => {
    const headers = { host: 'h', 'X-Api-Version': ['3', '4'] };
    expect(value('[$http_x_api_version][$http_none]', { headers })).toBe('[3][]');
  });

  it('joins Cookie lines with "; " and X-Forwarded-For lines with ", "', () => {
    const headers = { host: 'h', cookie: ['a=1', 'b=2'], 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] };
    expect(value('[$http_cookie][$http_x_forwarded_for]', { headers })).toBe('[a=1; b=2][1.1.1.1, 2.2.2.2]');
  });

  it('ignores headers whose names nginx refuses, such as one with an underscore', () => {
    expect(value('[$http_x_foo]', { headers: { host: 'h', x_foo: '1' } })).toBe('[]');
    expect(value('[$http_x_foo]', { headers: { host: 'h', x_foo: '1', 'x-foo': '2' } })).toBe('[2]');
    expect(value('[$http_x_foo]', { headers: { host: 'h', 'x-foo!': '1' } })).toBe('[]');
    expect(value('[$http_x_foo]', { headers: { host: 'h', 'x-foo': undefined } })).toBe('[]');
  });

  it('refuses the bare prefixes as unknown variables', () => {
    for (const v of ['$http_', '$cookie_', '$arg_']) {
      expect(() => compileNginx(`return 200 "${v}";`), v).toThrow();
    }
  });
});

describe('$arg_NAME, as ngx_http_arg', () => {
  it('needs NAME= at the start of an argument, matched without case', () => {
    const arg = (args: string) => value('[$arg_foo]', { uri: `/?${args}` });
    expect(arg('foo=1')).toBe('[1]');
    expect(arg('FOO=2&foo=3')).toBe('[2]');
    expect(arg('xfoo=1&foo=2')).toBe('[2]');
    expect(arg('foo&foo=3')).toBe('[3]');
    expect(arg('a=1&foo')).toBe('[]');
    expect(arg('foo=')).toBe('[]');
    expect(arg('foo=a&b=c')).toBe('[a]');
    expect(arg('b=foo=1')).toBe('[]');
  });
});

describe('the Host header', () => {
  it('is found under any case of its name', () => {
    expect(value('[$host]', { headers: { HOST: 'Example.COM' } })).toBe('[example.com]');
    expect(value('[$host]', { headers: { hosts: 'a', Host: 'b' } })).toBe('[b]');
    expect(value('[$host]', { headers: { hostx: 'a' } }, 'fallback.test')).toBe('[fallback.test]');
  });
});
