/** Adapter: the source registry (`src/sources`) as config component kinds. */
import { defineKind, type ComponentKind } from '../core/component';
import { sourceTypes } from '../sources';
import type { Source } from '../core/source';

export const sourceKinds: ReadonlyMap<string, ComponentKind<void, Source>> = new Map<string, ComponentKind<void, Source>>([
  [
    'file',
    defineKind({
      type: 'file',
      canAcknowledge: sourceTypes.file.canAcknowledge,
      schemaHasType: true,
      schema: sourceTypes.file.schema,
      create: (c) => sourceTypes.file.create(c),
    }),
  ],
  [
    'stdin',
    defineKind({
      type: 'stdin',
      canAcknowledge: sourceTypes.stdin.canAcknowledge,
      schemaHasType: true,
      schema: sourceTypes.stdin.schema,
      create: (c) => sourceTypes.stdin.create(c),
    }),
  ],
]);
