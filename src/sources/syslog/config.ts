/**
 * The syslog source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import { z } from 'zod';
import { sizeSchema } from '../../core/units';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * `127.0.0.1:5514`, `[::1]:5514`, `0.0.0.0:5514`, `:5514` or `5514` (the host defaults to
 * 127.0.0.1: listening on every interface is a choice the user writes down). Port 0 = any free port.
 */
export const parseListenAddress = (text: string): ListenAddress | string => {
  const t = text.trim();
  let host = '127.0.0.1';
  let portText = t;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1] ?? host;
    portText = v6[2] ?? '';
  } else if (t.includes(':')) {
    const at = t.lastIndexOf(':');
    if (at > 0) host = t.slice(0, at);
    portText = t.slice(at + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return `${JSON.stringify(text)} is not an address such as 127.0.0.1:5514`;
  const port = Number(portText);
  if (port > 65535) return `port ${port} is above 65535`;
  return { host, port };
};

export const listenAddressSchema = z
  .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (iss) => (iss.input === undefined ? 'missing (expected an address such as 127.0.0.1:5514)' : 'expected an address such as 127.0.0.1:5514'),
  })
  .transform((v, ctx): ListenAddress => {
  const r = parseListenAddress(String(v));
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

/** TLS files (PEM), read when the source starts. */
export const tlsSchema = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** CA bundle that client certificates must chain to (with `verify_client`). */
  ca_file: z.string().min(1).optional(),
  /** Require and verify a client certificate. */
  verify_client: z.boolean().default(false),
});
export type TlsConfig = z.output<typeof tlsSchema>;

export const syslogSourceSchema = z
  .strictObject({
    type: z.literal('syslog'),
    /** `tcp` (acknowledged by the TCP window only) or `udp` (best effort). */
    mode: z.enum(['tcp', 'udp']).default('tcp'),
    /** Where to listen. */
    address: listenAddressSchema,
    /** `auto`: per frame, a digit starts an RFC 6587 octet count, anything else an LF-terminated frame. */
    framing: z.enum(['auto', 'octet_counting', 'newline']).default('auto'),
    /** Longest message kept in one event; a longer frame is split into pieces of this size (nothing dropped). */
    max_message_bytes: sizeSchema.pipe(z.int().min(64).max(64 * MiB)).default(64 * KiB),
    /** Connections beyond this many are closed at once (and counted). TCP only. */
    max_connections: z.int().min(1).max(1_000_000).default(1024),
    /** TLS for TCP. */
    tls: tlsSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.tls !== undefined && c.mode !== 'tcp') ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs mode: tcp (there is no TLS over UDP)' });
  });

export type SyslogSourceConfig = z.output<typeof syslogSourceSchema>;
export type SyslogSourceConfigInput = z.input<typeof syslogSourceSchema>;
