/**
 * The syslog source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import * as z from 'zod';
import { sizeSchema } from '../../core/units';
import { listenAddressSchema, maxConnectionsSchema, tlsSchema } from '../net-config';

export { parseListenAddress } from '../net-config';
export type { ListenAddress, TlsConfig } from '../net-config';

const KiB = 1024;
const MiB = 1024 * KiB;

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
    max_connections: maxConnectionsSchema,
    /** TLS for TCP. */
    tls: tlsSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.tls !== undefined && c.mode !== 'tcp') ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs mode: tcp (there is no TLS over UDP)' });
  });

export type SyslogSourceConfig = z.output<typeof syslogSourceSchema>;
export type SyslogSourceConfigInput = z.input<typeof syslogSourceSchema>;
