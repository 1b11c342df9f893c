import { RewriteSyntaxError } from '../errors.js';
import type { SourcePosition } from '../types.js';

/** One argument of a directive, unquoted and unescaped as nginx reads it. */
export interface Word extends SourcePosition {
  text: string;
}

/** A directive: its words, and its block when it has one. */
export interface Statement extends SourcePosition {
  words: Word[];
  block?: Statement[];
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

/**
 * Splits nginx configuration text into statements, with nginx's own reading rules
 * (`ngx_conf_read_token`): `#` comments, `"…"` and `'…'` quoting, `\"` `\'` `\\` `\t` `\r`
 * `\n` escapes, `${var}` kept whole, and a `)` allowed right after a closing quote.
 * @see src/core/ngx_conf_file.c ngx_conf_read_token
 */
export function readStatements(text: string): Statement[] {
  let pos = 0;
  let line = 1;
  let column = 1;

  type Token = { kind: 'statement' | 'block' | 'close' | 'eof'; words: Word[]; at: SourcePosition };

  const fail = (message: string, at: SourcePosition): never => {
    throw new RewriteSyntaxError(message, at);
  };

  function unescapeWord(raw: string): string {
    let out = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i] as string;
      if (c === '\\') {
        const n = raw[i + 1];
        if (n === '"' || n === "'" || n === '\\') {
          out += n;
          i++;
          continue;
        }
        if (n === 't' || n === 'r' || n === 'n') {
          out += n === 't' ? '\t' : n === 'r' ? '\r' : '\n';
          i++;
          continue;
        }
      }
      out += c;
    }
    return out;
  }

  function readToken(): Token {
    const words: Word[] = [];
    let lastSpace = true;
    let needSpace = false;
    let quoted = false;
    let sQuoted = false;
    let dQuoted = false;
    let comment = false;
    let variable = false;
    let start = 0;
    let startAt: SourcePosition = { line, column };
    let statementAt: SourcePosition | undefined;

    for (;;) {
      if (pos >= text.length) {
        if (words.length > 0 || !lastSpace) {
          fail('unexpected end of file, expecting ";" or "}"', { line, column });
        }
        return { kind: 'eof', words, at: { line, column } };
      }
      const ch = text[pos] as string;
      const at = { line, column };
      pos++;
      if (ch === '\n') {
        line++;
        column = 1;
        comment = false;
      } else {
        column++;
      }
      if (comment) continue;
      if (quoted) {
        quoted = false;
        continue;
      }

      if (needSpace) {
        if (SPACE.has(ch)) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === ';') return { kind: 'statement', words, at: statementAt ?? at };
        if (ch === '{') return { kind: 'block', words, at: statementAt ?? at };
        if (ch === ')') {
          lastSpace = true;
          needSpace = false;
        } else {
          fail(`unexpected "${ch}"`, at);
        }
      }

      if (lastSpace) {
        start = pos - 1;
        startAt = at;
        if (SPACE.has(ch)) continue;
        switch (ch) {
          case ';':
          case '{':
            if (words.length === 0) fail(`unexpected "${ch}"`, at);
            return { kind: ch === '{' ? 'block' : 'statement', words, at: statementAt ?? at };
          case '}':
            if (words.length !== 0) fail('unexpected "}"', at);
            return { kind: 'close', words, at };
          case '#':
            comment = true;
            continue;
          case '\\':
            quoted = true;
            lastSpace = false;
            continue;
          case '"':
            start++;
            dQuoted = true;
            lastSpace = false;
            continue;
          case "'":
            start++;
            sQuoted = true;
            lastSpace = false;
            continue;
          case '$':
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
            continue;
        }
      }

      if (ch === '{' && variable) continue;
      variable = false;
      if (ch === '\\') {
        quoted = true;
        continue;
      }
      if (ch === '$') {
        variable = true;
        continue;
      }
      let found = false;
      if (dQuoted) {
        if (ch === '"') {
          dQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (sQuoted) {
        if (ch === "'") {
          sQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (SPACE.has(ch) || ch === ';' || ch === '{') {
        lastSpace = true;
        found = true;
      }
      if (found) {
        words.push({ text: unescapeWord(text.slice(start, pos - 1)), ...startAt });
        statementAt ??= startAt;
        if (ch === ';') return { kind: 'statement', words, at: statementAt };
        if (ch === '{') return { kind: 'block', words, at: statementAt };
      }
    }
  }

  function readBlock(opened: SourcePosition | undefined): Statement[] {
    const out: Statement[] = [];
    for (;;) {
      const t = readToken();
      if (t.kind === 'eof') {
        if (opened !== undefined) fail('unexpected end of file, expecting "}"', t.at);
        return out;
      }
      if (t.kind === 'close') {
        if (opened === undefined) fail('unexpected "}"', t.at);
        return out;
      }
      const first = t.words[0] as Word;
      const st: Statement = { words: t.words, line: first.line, column: first.column };
      if (t.kind === 'block') st.block = readBlock(first);
      out.push(st);
    }
  }

  return readBlock(undefined);
}
