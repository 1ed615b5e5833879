/**
 * Decoding at the source: multiline events (stack traces), JSON and CRI, for the sources that read
 * lines (file, stdin). `config.ts` the keys, `modes.ts` the multiline modes, `cri.ts` the CRI line
 * format, `assembler.ts` the events and how they keep the file position honest.
 */
export { Assembler, decodeStats, DecodeWarnings, newDecodeCounts } from './assembler';
export type { DecodeCounts, Decoded, Flush } from './assembler';
export { checkDecodeKeys, decodeKeys, decodes, heldBound, multilineSchema, MULTILINE_MODES } from './config';
export type { DecodeConfig, MultilineConfig, MultilineMode } from './config';
export { parseCri } from './cri';
export type { CriLine } from './cri';
export { grouperFor } from './modes';
export type { Grouper, Verdict } from './modes';
