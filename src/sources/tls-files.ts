/** Reading a network source's TLS files (PEM) through the `FileSystem` port, when the source starts. */
import { isAbsolute, resolve } from 'node:path';
import type { FileSystem } from '../core/ports';
import type { TlsConfig } from './net-config';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/**
 * The certificate, key and optional CA bundle `tls` names (relative paths against `cwd`). A file
 * that cannot be read becomes the error `fail(path, cause)` builds (each source has its own code).
 */
export const readTlsMaterial = async (fs: FileSystem, cwd: string, tls: TlsConfig, fail: (path: string, cause: unknown) => Error): Promise<TlsMaterial> => {
  const read = async (path: string): Promise<Buffer> => {
    const full = isAbsolute(path) ? path : resolve(cwd, path);
    try {
      const fh = await fs.open(full, 'read');
      try {
        const { size } = await fh.stat();
        const buf = Buffer.alloc(size);
        let got = 0;
        while (got < size) {
          const n = await fh.read(buf, got, size - got, got);
          if (n === 0) break;
          got += n;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw fail(full, e);
    }
  };
  const [cert, key, ca] = await Promise.all([read(tls.cert_file), read(tls.key_file), tls.ca_file === undefined ? undefined : read(tls.ca_file)]);
  return { cert, key, ...(ca === undefined ? {} : { ca }) };
};
