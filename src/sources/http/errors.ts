/**
 * Errors of the http source. It shares its server, and so its errors, with the otlp source: they
 * live in `../errors.ts`. A bad request is not an error of the source: it is answered (400, 401,
 * 413, 415 …) and counted.
 */
export { HttpEmitError, HttpListenError, HttpTlsFileError } from '../errors';
