/**
 * What the `nats` sink and the `nats` source share: the connection keys as the user writes them
 * (`servers`, `auth`, `tls`) and the one way to connect. The client libraries
 * (`@nats-io/transport-node`, `@nats-io/jetstream`) are loaded with a dynamic `import()` when a
 * nats component first connects, so an agent without NATS in its config never loads them.
 *
 * Connections reconnect for ever (`maxReconnectAttempts: -1`): a server that goes away is waited
 * for, never given up on; what is in flight meanwhile fails by its own timeout and is retried by
 * the sink's runner or the source's next fetch.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import type { NatsConnection } from '@nats-io/transport-node';

/** `nats://host:port`, `tls://host:port`, `host:port` (the client's own forms). */
const serverSchema = z
  .string()
  .min(1)
  .refine((s) => /^((nats|tls|ws|wss):\/\/)?[^\s/]+(:\d{1,5})?\/?$/.test(s), { error: 'expected a server such as nats://127.0.0.1:4222' });

export const natsConnectionShape = {
  /** Seed servers; the client learns the rest of a cluster from them. */
  servers: z.array(serverSchema).min(1).default(['nats://127.0.0.1:4222']),
  /** One of: `{ user, password }`, `{ token }`, `{ creds_file }` (a decentralized-auth .creds file). */
  auth: z
    .union([
      z.strictObject({ user: z.string().min(1), password: z.string() }),
      z.strictObject({ token: z.string().min(1) }),
      z.strictObject({ creds_file: z.string().min(1) }),
    ])
    .optional(),
  /** TLS to the server: a CA bundle to verify it, and a client certificate + key if it asks for one. */
  tls: z.strictObject({ ca_file: z.string().min(1).optional(), cert_file: z.string().min(1).optional(), key_file: z.string().min(1).optional() }).optional(),
};
export const natsConnectionSchema = z.strictObject(natsConnectionShape);
export type NatsConnectionConfig = z.output<typeof natsConnectionSchema>;

export type { NatsConnection };

/** Connects (one attempt at each seed server); reconnects for ever afterwards. */
export const connectNats = async (config: NatsConnectionConfig, name: string, cwd: string): Promise<NatsConnection> => {
  const nats = await import('@nats-io/transport-node');
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));
  const auth = config.auth;
  const authOptions =
    auth === undefined
      ? {}
      : 'user' in auth
        ? { user: auth.user, pass: auth.password }
        : 'token' in auth
          ? { token: auth.token }
          : { authenticator: nats.credsAuthenticator(new Uint8Array(await readFile(path(auth.creds_file)))) };
  const tls = config.tls;
  return nats.connect({
    servers: config.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    ...authOptions,
    ...(tls === undefined
      ? {}
      : {
          tls: {
            ...(tls.ca_file === undefined ? {} : { caFile: path(tls.ca_file) }),
            ...(tls.cert_file === undefined ? {} : { certFile: path(tls.cert_file) }),
            ...(tls.key_file === undefined ? {} : { keyFile: path(tls.key_file) }),
          },
        }),
  });
};

/** A connection the server or its certificate refused: it cannot work until an operator changes the config. */
export class NatsConnectError extends Error {
  readonly code: 'SLUICE_NATS_AUTH' | 'SLUICE_NATS_TLS';
  constructor(kind: 'auth' | 'tls', servers: readonly string[], options: { cause: unknown }) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      kind === 'auth'
        ? `${servers.join(', ')} refused the credentials (${why}): check auth (user and password, token or creds_file)`
        : `TLS with ${servers.join(', ')} failed (${why}): tls.ca_file must name the CA that signed the server's certificate, and the certificate must name the host in servers`,
      options,
    );
    this.name = 'NatsConnectError';
    this.code = kind === 'auth' ? 'SLUICE_NATS_AUTH' : 'SLUICE_NATS_TLS';
  }
}

/** A failed connect as the user should read it: refused credentials and untrusted certificates named; others as they are. */
export const explainConnectError = (error: unknown, servers: readonly string[]): Error => {
  if (!(error instanceof Error)) return new Error(String(error));
  const code = (error as { code?: unknown }).code;
  const text = `${typeof code === 'string' ? code : ''} ${error.name} ${error.message}`;
  if (/authorization violation|authentication|AUTHORIZATION_VIOLATION/i.test(text)) return new NatsConnectError('auth', servers, { cause: error });
  if (/CERT|certificate|altnames|self[- ]signed|TLS|SSL/i.test(text)) return new NatsConnectError('tls', servers, { cause: error });
  return error;
};

/** The JetStream client module, loaded on first use. */
export const loadJetStream = (): Promise<typeof import('@nats-io/jetstream')> => import('@nats-io/jetstream');
