/**
 * GNU as macro machinery that is pure text work: parsing `.macro` formals, splitting an
 * invocation's arguments the way gas's macro.c does, and substituting `\arg`, `\()` and `\@`.
 */

export interface MacroFormal {
  name: string;
  def?: string;
  req: boolean;
  vararg: boolean;
}

/** Parse the formals of `.macro NAME a, b=default, c:req, d:vararg` (after the name). */
export function parseFormals(text: string): MacroFormal[] | string {
  const out: MacroFormal[] = [];
  let s = text.trim();
  while (s.length) {
    const m = /^([A-Za-z_.$][\w.$]*)(\s*:\s*(req|vararg))?\s*(=)?/.exec(s);
    if (!m || m[0].length === 0) return `bad macro parameter list "${text.trim()}"`;
    let def: string | undefined;
    let end = m[0].length;
    if (m[4]) {
      // A default is read like an argument: a "string", or text up to a comma or a blank outside brackets.
      const r = anyString(s, end);
      def = r.value;
      end = r.end;
    }
    out.push({ name: m[1], def, req: m[3] === 'req', vararg: m[3] === 'vararg' });
    s = s.slice(skipComma(s, end));
  }
  return out;
}

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** gas get_any_string: one argument: a "string" (quotes removed) or text up to a comma / blank outside brackets. */
function anyString(s: string, i: number): { value: string; end: number } {
  while (isWs(s[i])) i++;
  if (s[i] === '"') {
    let v = '';
    i++;
    while (i < s.length) {
      if (s[i] === '\\' && i + 1 < s.length) {
        v += s[i] + s[i + 1];
        i += 2;
        continue;
      }
      if (s[i] === '"') {
        if (s[i + 1] === '"') {
          v += '"';
          i += 2;
          continue;
        }
        i++;
        break;
      }
      v += s[i++];
    }
    return { value: v, end: i };
  }
  let v = '';
  const br: string[] = [];
  while (i < s.length && (br.length > 0 || !isWs(s[i])) && s[i] !== ',') {
    const c = s[i];
    if (c === '"' || c === "'") {
      const close = s.indexOf(c, i + 1);
      const e = close < 0 ? s.length : close + 1;
      v += s.slice(i, e);
      i = e;
      continue;
    }
    if (c === '(' || c === '[') br.push(c);
    else if ((c === ')' && br[br.length - 1] === '(') || (c === ']' && br[br.length - 1] === '[')) br.pop();
    v += c;
    i++;
  }
  return { value: v, end: i };
}

function skipComma(s: string, i: number): number {
  while (isWs(s[i])) i++;
  if (s[i] === ',') i++;
  while (isWs(s[i])) i++;
  return i;
}

/** Bind an invocation's actual arguments to formals (positional and `name=value`). */
export function bindArgs(formals: MacroFormal[], text: string): Map<string, string> | string {
  const vals = new Map<string, string>();
  let pos = 0;
  let i = 0;
  const s = text;
  while (isWs(s[i])) i++;
  while (i < s.length) {
    const kw = /^([A-Za-z_.$][\w.$]*)\s*=/.exec(s.slice(i));
    if (kw && !s.slice(i).startsWith(kw[1] + '==')) {
      const f = formals.find((x) => x.name === kw[1]);
      if (!f) return `macro does not have a parameter named ${kw[1]}`;
      const r = anyString(s, i + kw[0].length);
      vals.set(f.name, r.value);
      i = skipComma(s, r.end);
      continue;
    }
    const f = formals[pos++];
    if (!f) return `too many positional arguments`;
    if (f.vararg) {
      vals.set(f.name, s.slice(i).trim());
      break;
    }
    const r = anyString(s, i);
    vals.set(f.name, r.value);
    i = skipComma(s, r.end);
  }
  for (const f of formals) {
    const v = vals.get(f.name);
    if (v === undefined || v === '') {
      if (f.req && v === undefined) return `missing value for required parameter \`${f.name}'`;
      if (v === undefined || f.def !== undefined) vals.set(f.name, v === undefined || v === '' ? (f.def ?? '') : v);
    }
  }
  return vals;
}

/** Replace \name, \() and \@ in one body line. */
export function substituteBody(line: string, vals: Map<string, string>, counter: number): string {
  if (!line.includes('\\')) return line;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = line[i + 1];
    if (next === '(' && line[i + 2] === ')') {
      i += 2;
      continue;
    }
    if (next === '@') {
      out += String(counter);
      i++;
      continue;
    }
    const m = /^[A-Za-z_.$][\w.$]*/.exec(line.slice(i + 1));
    if (m) {
      // gas matches the longest identifier; a non-formal is left alone.
      const v = vals.get(m[0]);
      if (v !== undefined) {
        out += v;
        i += m[0].length;
        continue;
      }
    }
    out += c;
  }
  return out;
}

/** Split `.irp` / `.irpc`-style lists the way macro arguments are split. */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (isWs(text[i])) i++;
  while (i < text.length) {
    const r = anyString(text, i);
    out.push(r.value);
    const j = skipComma(text, r.end);
    if (j === i) break;
    i = j;
  }
  return out;
}
