/**
 * One syslog message → one structured event, with Vector's field names: `message`, `hostname`,
 * `appname`, `procid`, `msgid`, `facility` (`user`, `local0`, …), `severity` (`notice`, `err`, …),
 * `timestamp`, `version`, and RFC 5424 structured data as one object per SD-ID, at the top level
 * (an SD-ID that would overwrite one of those fields is stored as `sd:<id>` instead).
 *
 * - RFC 5424 (`<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`): a NILVALUE `-`
 *   leaves its field out; the timestamp is kept as the sender wrote it (RFC 3339, with its offset
 *   and all its fractional digits); a UTF-8 BOM before MSG is removed; `\"`, `\\` and `\]` in SD
 *   values are unescaped.
 * - RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`), leniently as senders write it: the
 *   timestamp may be RFC 3339 instead (rsyslog's forward format) or missing; the hostname may be
 *   missing (a token ending in `:` or holding `[` is the tag). A BSD timestamp has no year and no
 *   zone: it is read in the agent's time zone, in the current year (the previous one if that puts
 *   it more than a day in the future), and written as ISO 8601 UTC.
 * - A numeric PROCID becomes a number (as Vector does).
 *
 * Anything without a valid `<PRI>` (0-191), or a 5424 header or SD that is malformed, does not
 * parse: `parseSyslog` returns null and the caller keeps the raw text as `message` and counts it.
 * The parser never throws, whatever the input (fast-check tests feed it arbitrary bytes).
 */

export const FACILITIES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

export const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

export type SyslogEvent = Record<string, unknown>;

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const STANDARD = new Set(['message', 'hostname', 'appname', 'procid', 'msgid', 'facility', 'severity', 'timestamp', 'version', 'source_ip', 'source', '__proto__']);
const BSD_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: |$)/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const TAG = /^([^\s[\]:]{1,48})(?:\[([^\]\s]{0,32})\])?:(?: |$)/;
const DAY_MS = 86_400_000;

const procid = (s: string): string | number => (/^\d{1,15}$/.test(s) ? Number(s) : s);

/** The event for one message, or null when it is not syslog (the caller keeps it raw). `nowMs`: wall clock, for BSD timestamps. */
export const parseSyslog = (line: string, nowMs: number): SyslogEvent | null => {
  if (line.charCodeAt(0) !== 60 /* < */) return null;
  let i = 1;
  let pri = 0;
  while (i < line.length && i <= 4) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    pri = pri * 10 + d;
    i++;
  }
  if (i === 1 || i > 4 || line.charCodeAt(i) !== 62 /* > */ || pri > 191) return null;
  i++;
  const ev: SyslogEvent = { facility: FACILITIES[pri >> 3], severity: SEVERITIES[pri & 7] };
  const v = /^([1-9]\d{0,2}) /.exec(line.slice(i, i + 4));
  if (v) return parse5424(line, i + v[0].length, Number(v[1]), ev);
  return parse3164(line.slice(i), nowMs, ev);
};

/** A 5424 header field up to the next SP; `-` is absent. Returns the end index, or -1. */
const field = (line: string, i: number): [string | undefined, number] => {
  const sp = line.indexOf(' ', i);
  if (sp === -1 || sp === i) return [undefined, -1];
  const s = line.slice(i, sp);
  return [s === '-' ? undefined : s, sp + 1];
};

const parse5424 = (line: string, start: number, version: number, ev: SyslogEvent): SyslogEvent | null => {
  ev['version'] = version;
  let i = start;
  const names = ['timestamp', 'hostname', 'appname', 'procid', 'msgid'] as const;
  for (const name of names) {
    const [value, next] = field(line, i);
    if (next === -1) return null;
    if (value !== undefined) ev[name] = name === 'procid' ? procid(value) : value;
    i = next;
  }
  if (line.charCodeAt(i) === 45 /* - */) {
    i++;
  } else if (line.charCodeAt(i) === 91 /* [ */) {
    const end = parseSd(line, i, ev);
    if (end === -1) return null;
    i = end;
  } else return null;
  if (i < line.length) {
    if (line.charCodeAt(i) !== 32) return null;
    i++;
    let msg = line.slice(i);
    if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1);
    ev['message'] = msg;
  } else ev['message'] = '';
  return ev;
};

/** SD-ELEMENTs from `[` at i; returns the index after the last `]`, or -1 when malformed. */
const parseSd = (line: string, i: number, ev: SyslogEvent): number => {
  const n = line.length;
  while (i < n && line.charCodeAt(i) === 91) {
    i++;
    let j = i;
    while (j < n && !' ]="'.includes(line[j] as string)) j++;
    if (j === i || j >= n) return -1;
    const id = line.slice(i, j);
    const params: Record<string, string> = {};
    i = j;
    while (line.charCodeAt(i) === 32) {
      i++;
      j = i;
      while (j < n && !' ]="'.includes(line[j] as string)) j++;
      if (j === i || line.charCodeAt(j) !== 61 /* = */ || line.charCodeAt(j + 1) !== 34 /* " */) return -1;
      const name = line.slice(i, j);
      i = j + 2;
      let value = '';
      for (;;) {
        if (i >= n) return -1;
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */ && i + 1 < n && '"\\]'.includes(line[i + 1] as string)) {
          value += line[i + 1];
          i += 2;
        } else {
          value += line[i];
          i++;
        }
      }
      i++; // closing quote
      if (name !== '__proto__') params[name] = value;
    }
    if (line.charCodeAt(i) !== 93 /* ] */) return -1;
    i++;
    ev[STANDARD.has(id) || id in ev ? `sd:${id}` : id] = params;
  }
  return i;
};

/** A BSD timestamp (no year, no zone) as ISO UTC: the agent's zone, this year unless that is in the future. */
const bsdTime = (m: RegExpExecArray, nowMs: number): string | undefined => {
  const mon = MONTHS[m[1] as string];
  if (mon === undefined) return undefined;
  const now = new Date(nowMs);
  const at = (year: number): Date => new Date(year, mon, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  let d = at(now.getFullYear());
  if (d.getTime() - nowMs > DAY_MS) d = at(now.getFullYear() - 1);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
};

const parse3164 = (rest: string, nowMs: number, ev: SyslogEvent): SyslogEvent => {
  let s = rest;
  let stamped = false;
  const bsd = BSD_TIME.exec(s);
  if (bsd) {
    const ts = bsdTime(bsd, nowMs);
    if (ts !== undefined) {
      ev['timestamp'] = ts;
      s = s.slice(bsd[0].length);
      stamped = true;
    }
  } else {
    const sp = s.indexOf(' ');
    const tok = sp === -1 ? s : s.slice(0, sp);
    if (RFC3339.test(tok)) {
      ev['timestamp'] = tok;
      s = sp === -1 ? '' : s.slice(sp + 1);
      stamped = true;
    }
  }
  if (stamped) {
    const sp = s.indexOf(' ');
    const tok = sp === -1 ? '' : s.slice(0, sp);
    if (tok !== '' && !tok.endsWith(':') && !tok.includes('[')) {
      ev['hostname'] = tok;
      s = s.slice(sp + 1);
    }
  }
  const tag = TAG.exec(s);
  if (tag) {
    ev['appname'] = tag[1];
    if (tag[2] !== undefined && tag[2] !== '') ev['procid'] = procid(tag[2]);
    s = s.slice(tag[0].length);
  }
  ev['message'] = s;
  return ev;
};
