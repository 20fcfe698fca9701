import { importImageArchive, labImageDir, listStoredImages } from '../../lab';
import { UsageError } from '../../errors';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { formatTable, out, outJson } from '../output';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export const image: Command = {
  name: 'image',
  usage: `meshnetctl lab image import FILE... [--name REF] | ls [--output json]
                                      import: keep docker-save or OCI image archives (gzip or not) for
                                      container pods, under the names they carry (machines without a
                                      registry; vendor images shipped as tarballs); a root filesystem
                                      tar (mmdebstrap's, say) becomes image REF with --name; ls: the
                                      images kept (in ${labImageDir()}; MESHNET_LAB_IMAGES moves it)`,
  options: { ...OUTPUT_OPTION, name: { type: 'string' } },
  async run(p) {
    const [verb, ...files] = p.positionals;
    if (verb === 'import') {
      if (files.length === 0) throw new UsageError('lab image import needs one FILE or more');
      const name = typeof p.values.name === 'string' ? p.values.name : undefined;
      if (name !== undefined && files.length > 1) throw new UsageError('--name names one root filesystem: give one FILE');
      for (const f of files) {
        for (const i of await importImageArchive(f, name !== undefined ? { name } : {})) out(`${i.ref}  (${i.format === 'rootfs' ? 'root filesystem' : `${i.format} archive`}, ${mb(i.bytes)}, from ${f})`);
      }
      return 0;
    }
    if (verb === 'ls') {
      const images = listStoredImages();
      if (wantsJson(p)) {
        outJson({ dir: labImageDir(), images });
        return 0;
      }
      out(images.length ? formatTable(['IMAGE', 'FORMAT', 'SIZE', 'IMPORTED', 'FROM'], images.map((i) => [i.ref, i.format, mb(i.bytes), i.importedAt, i.source]))
        : `no images imported (${labImageDir()})`);
      return 0;
    }
    throw new UsageError(verb === undefined ? 'lab image needs import or ls' : `lab image: unknown verb "${verb}" (import or ls)`);
  },
};
