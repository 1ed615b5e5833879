/**
 * How a component (a source type or a sink type) plugs into the config: its zod schema (strict:
 * unknown keys are errors), a factory, and whether it can acknowledge (propagate "durable" back to
 * its input / only ack what it wrote). `defineKind` ties a schema to its factory so one registry can
 * hold kinds with different config types without casts.
 */
import type { z } from 'zod';

export type ParseOutcome<Ctx, T> =
  | { readonly ok: true; readonly make: (ctx: Ctx) => T; readonly inputs: readonly string[]; readonly maxBackoffMs?: number }
  | { readonly ok: false; readonly issues: readonly z.core.$ZodIssue[] };

export interface ComponentKind<Ctx, T> {
  readonly type: string;
  readonly canAcknowledge: boolean;
  /** The zod schema (used for error messages: which keys are valid). */
  readonly schema: z.ZodType;
  /** Validate one `sources.<id>` / `sinks.<id>` entry as written in the YAML (with its `type` key). */
  parse(raw: unknown): ParseOutcome<Ctx, T>;
}

export interface DefineKindOptions<C, Ctx, T> {
  readonly type: string;
  readonly canAcknowledge: boolean;
  readonly schema: z.ZodType<C>;
  /** Whether the schema itself declares the `type` key; if not, `type` is removed before parsing. */
  readonly schemaHasType: boolean;
  /** The sources this component reads (sinks only). */
  readonly inputs?: (config: C) => readonly string[];
  /** The cap of the retry backoff, if the component's config sets one (sinks only). */
  readonly maxBackoffMs?: (config: C) => number | undefined;
  readonly create: (config: C, ctx: Ctx) => T;
}

export const defineKind = <C, Ctx, T>(o: DefineKindOptions<C, Ctx, T>): ComponentKind<Ctx, T> => ({
  type: o.type,
  canAcknowledge: o.canAcknowledge,
  schema: o.schema,
  parse(raw: unknown): ParseOutcome<Ctx, T> {
    let input = raw;
    if (!o.schemaHasType && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      const { type: _type, ...rest } = raw as Record<string, unknown>;
      input = rest;
    }
    const r = o.schema.safeParse(input);
    if (!r.success) return { ok: false, issues: r.error.issues };
    const config = r.data;
    const maxBackoffMs = o.maxBackoffMs?.(config);
    return {
      ok: true,
      make: (ctx: Ctx) => o.create(config, ctx),
      inputs: o.inputs ? o.inputs(config) : [],
      ...(maxBackoffMs !== undefined ? { maxBackoffMs } : {}),
    };
  },
});
