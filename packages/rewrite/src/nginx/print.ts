import type {
  RewriteAddHeader,
  RewriteCondition,
  RewriteConfig,
  RewriteHeaderDirectives,
  RewriteLocation,
  RewriteRule,
} from '../types.js';

/**
 * Writes a value as an nginx word: bare when it can be, double-quoted when it holds a
 * space, `;`, a brace, a quote or `#`; backslashes that nginx would read as an escape
 * are doubled.
 */
export function word(value: string): string {
  const escaped = value.replace(/\\(?=["'\\trn]|$)/g, '\\\\');
  if (value === '' || /[\s;{}"'#]/.test(value)) return `"${escaped.replace(/"/g, '\\"')}"`;
  return escaped;
}

function condition(c: RewriteCondition): string {
  if (!('operator' in c)) return `(${c.variable})`;
  const operand = 'regex' in c ? c.regex : c.value;
  return `(${c.variable} ${c.operator} ${word(operand)})`;
}

function addHeaderText(h: RewriteAddHeader, indent: string): string {
  return `${indent}add_header ${word(h.name)} ${word(h.value)}${h.always === true ? ' always' : ''};`;
}

/** The header directives of one level, one a line. */
function headerLines(level: RewriteHeaderDirectives, indent: string): string[] {
  const lines = (level.addHeaders ?? []).map((h) => addHeaderText(h, indent));
  for (const h of level.proxySetHeaders ?? []) {
    lines.push(`${indent}proxy_set_header ${word(h.name)} ${word(h.value)};`);
  }
  for (const n of level.proxyHideHeaders ?? []) lines.push(`${indent}proxy_hide_header ${word(n)};`);
  for (const n of level.proxyPassHeaders ?? []) lines.push(`${indent}proxy_pass_header ${word(n)};`);
  return lines;
}

/** One directive on one line (an `if` with its block). */
export function ruleText(rule: RewriteRule, indent = ''): string {
  switch (rule.type) {
    case 'rewrite':
      return `${indent}rewrite ${word(rule.regex)} ${word(rule.replacement)}${rule.flag === undefined ? '' : ` ${rule.flag}`};`;
    case 'return': {
      const parts = ['return'];
      if (rule.code !== undefined) parts.push(String(rule.code));
      if (rule.text !== undefined) parts.push(word(rule.text));
      return `${indent}${parts.join(' ')};`;
    }
    case 'set':
      return `${indent}set ${rule.variable} ${word(rule.value)};`;
    case 'break':
      return `${indent}break;`;
    case 'if': {
      const inner = rule.rules.map((r) => ruleText(r, `${indent}    `));
      if (rule.proxyPass !== undefined) inner.push(`${indent}    proxy_pass ${word(rule.proxyPass)};`);
      for (const h of rule.addHeaders ?? []) inner.push(addHeaderText(h, `${indent}    `));
      return `${indent}if ${condition(rule.condition)} {\n${inner.join('\n')}${inner.length ? '\n' : ''}${indent}}`;
    }
  }
}

/** The first line of a directive, as a trace shows it. */
export function ruleHead(rule: RewriteRule): string {
  return rule.type === 'if' ? `if ${condition(rule.condition)}` : ruleText(rule);
}

function locationText(loc: RewriteLocation): string {
  const head = loc.modifier === '' ? word(loc.path) : `${loc.modifier} ${word(loc.path)}`;
  const inner = loc.rules.map((r) => ruleText(r, '    '));
  if (loc.proxyPass !== undefined) inner.push(`    proxy_pass ${word(loc.proxyPass)};`);
  inner.push(...headerLines(loc, '    '));
  return `location ${head} {\n${inner.join('\n')}${inner.length ? '\n' : ''}}`;
}

/**
 * Prints rules as the body of an nginx `server {}` block: server-level directives first,
 * then the locations. {@link parseNginx} reads the text back to the same rules.
 *
 * @example
 * ```ts
 * toNginx(fromApache(htaccess).config); // paste into server { … }
 * ```
 */
export function toNginx(config: RewriteConfig): string {
  const blocks = [
    headerLines(config, '').join('\n'),
    config.rules.map((r) => ruleText(r)).join('\n'),
    ...config.locations.map(locationText),
  ];
  return `${blocks.filter((b) => b !== '').join('\n\n')}\n`;
}
