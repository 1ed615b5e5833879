/**
 * Config pieces the network sources share (`syslog`, `http`, `otlp`): the listen address, TLS files and
 * a secret that may come from the environment. Each source builds its own strict schema from them.
 */
import * as z from 'zod';
import type { BatchBound } from '../core/component';
import { formatSize, sizeSchema } from '../core/units';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`, `:8080` or `8080` (host 127.0.0.1). Port 0 = any free port. */
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
  if (!/^\d{1,5}$/.test(portText)) return `${JSON.stringify(text)} is not an address such as 127.0.0.1:8080`;
  const port = Number(portText);
  if (port > 65535) return `port ${port} is above 65535`;
  return { host, port };
};

export const listenAddressSchema = z
  .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (iss) => (iss.input === undefined ? 'missing (expected an address such as 127.0.0.1:8080)' : 'expected an address such as 127.0.0.1:8080'),
  })
  .transform((v, ctx): ListenAddress => {
    const r = parseListenAddress(String(v));
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });

/**
 * A secret as written in the config: the text itself, or `${NAME}` for the value of the
 * environment variable NAME when the config is loaded (so the token need not be in the file).
 */
export const secretSchema = z.string().transform((v, ctx) => {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(v.trim());
  const value = m ? process.env[m[1] as string] : v;
  if (value === undefined || value === '') {
    ctx.addIssue({ code: 'custom', message: m ? `environment variable ${m[1]} is not set (or empty)` : 'the token cannot be empty' });
    return z.NEVER;
  }
  return value;
});

export const tlsSchema = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** CA bundle that client certificates must chain to (with `verify_client`). */
  ca_file: z.string().min(1).optional(),
  /** Require and verify a client certificate. */
  verify_client: z.boolean().default(false),
});
export type TlsConfig = z.output<typeof tlsSchema>;

/** `bearer_token`: requests without `Authorization: Bearer <token>` get 401. */
export const authSchema = z.strictObject({ bearer_token: secretSchema });

/**
 * A request-driven source's answer to a full queue: `reject` (503 + `Retry-After: 1` at once, and a
 * request whose append waits for space is given up and answered 503: nothing stored, so the retry is
 * no duplicate) or `block` (the request waits for space as long as it takes).
 */
export const whenFullSchema = z.enum(['block', 'reject']).default('reject');

/** Connections beyond this many are closed as they arrive (and counted). */
export const maxConnectionsSchema = z.int().min(1).max(1_000_000).default(1024);

/**
 * The keys of an HTTP ingest server that the http and otlp sources share (after `address`, whose
 * default differs): spread into each source's schema.
 */
export const ingestServerKeys = {
  /** Largest body, before and after decompression; 413 above it. */
  max_body_bytes: sizeSchema.pipe(z.int().min(1024).max(1024 * 1024 * 1024)).default(10 * 1024 * 1024),
  /** A full queue: `reject` answers 503 + Retry-After at once; `block` holds the request until there is space. */
  when_full: whenFullSchema,
  /** Connections beyond this many are closed as they arrive (and counted). */
  max_connections: maxConnectionsSchema,
  /** `bearer_token`: requests without `Authorization: Bearer <token>` get 401. */
  auth: authSchema.optional(),
  /** HTTPS. */
  tls: tlsSchema.optional(),
};

/**
 * The largest single event of an HTTP ingest source, for the check that it fits one queue record:
 * a body cut into several records is cut between events, so one event can be as large as the body.
 * (Decoding can make it larger: text lines gain their JSON, OTLP records their field names.)
 */
export const ingestEventBound = (cfg: { readonly max_body_bytes: number }): BatchBound => ({
  bytes: cfg.max_body_bytes,
  key: 'max_body_bytes',
  from: `max_body_bytes ${formatSize(cfg.max_body_bytes)}`,
  fix: 'lower max_body_bytes to refuse such bodies before they are read',
});
