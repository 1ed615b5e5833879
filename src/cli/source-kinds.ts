/** Adapter: the sources' schemas and factories as config component kinds. */
import { z } from 'zod';
import { defineKind, type ComponentKind } from '../config/components';
import { fileSourceSchema } from '../sources/file/config';
import { FileSource } from '../sources/file/source';
import type { Source } from '../sources/types';

const notYet = (): Source => {
  throw new Error('source not available in this build');
};

export const sourceKinds: ReadonlyMap<string, ComponentKind<void, Source>> = new Map<string, ComponentKind<void, Source>>([
  [
    'file',
    defineKind({
      type: 'file',
      canAcknowledge: true,
      schemaHasType: true,
      schema: fileSourceSchema,
      create: (c) => new FileSource(c),
    }),
  ],
  ['stdin', defineKind({ type: 'stdin', canAcknowledge: false, schemaHasType: true, schema: z.strictObject({ type: z.literal('stdin') }), create: notYet })],
]);
