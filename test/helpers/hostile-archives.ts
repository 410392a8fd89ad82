/**
 * Archives that split tar readers which do not follow Go's archive/tar rules exactly (a data block
 * read as headers by one and as file data by another), plus odd but valid ones. Used by
 * test/security/archives-differential.test.ts; names say what each one tests.
 */
import {TarBuilder, checksum, header, paxBody} from './tar-builder'

/** A header block whose data is `inner` (a whole tar of its own): who reads `inner` as headers? */
function wrapping(name: string, typeflag: string, inner: Buffer, extra: Partial<Parameters<typeof header>[0]> = {}): Buffer {
  return Buffer.concat([header({name: Buffer.from(name), typeflag, size: inner.length, ...extra}), inner])
}

export const hidden = new TarBuilder().file('hidden', 'smuggled past one reader\n').toBuffer()

/** name -> bytes: archives that split readers that do not follow Go's rules exactly. */
export function hostileArchives(): Record<string, Buffer> {
  const zeroThenHeader = Buffer.concat([new TarBuilder().file('a', 'a').toBuffer(), Buffer.alloc(512), new TarBuilder().file('b', 'b').end().toBuffer()])
  const oldTypeHeader = header({name: Buffer.from('v7dir/'), typeflag: '\0', size: hidden.length})
  const signed = header({name: Buffer.from('signed-\xe9', 'latin1'), typeflag: '0', size: 0})
  // Re-sum the checksum over signed chars, as some old writers did.
  let sum = 8 * 0x20
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += signed[i]! > 127 ? signed[i]! - 256 : signed[i]!
  signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  const base256 = header({name: Buffer.from('old-and-far'), typeflag: '0', size: 0})
  // mtime 1960-01-01 (-315619200) and uid 4000000000 in GNU base-256.
  base256.fill(0xff, 136, 148)
  base256.writeBigInt64BE(-315619200n, 140)
  base256.fill(0, 108, 116)
  base256[108] = 0x80
  base256.writeUIntBE(4_000_000_000, 110, 6)
  checksum(base256)
  const paxNul = Buffer.concat([paxBody([['uid', '5']]), Buffer.alloc(30)])
  return {
    // A regular file named "dir/": its data is file data, never headers (the example).
    'reg-trailing-slash.tar': Buffer.concat([wrapping('dir/', '0', hidden), Buffer.alloc(1024)]),
    // The same with the old V7 typeflag '\0': a directory, whose "data" is read as headers by Go.
    'v7-trailing-slash.tar': Buffer.concat([oldTypeHeader, hidden, Buffer.alloc(1024)]),
    // Header-only types with a size: the next header follows at once.
    'symlink-with-size.tar': Buffer.concat([wrapping('link', '2', hidden, {linkname: Buffer.from('/etc/passwd')}), Buffer.alloc(1024)]),
    'dir-with-size.tar': Buffer.concat([wrapping('d/', '5', hidden), Buffer.alloc(1024)]),
    'fifo-with-size.tar': Buffer.concat([wrapping('p', '6', hidden), Buffer.alloc(1024)]),
    // Types with data: contiguous file, GNU dump directory, volume label, unknown type.
    'contiguous.tar': Buffer.concat([wrapping('c', '7', hidden), Buffer.alloc(1024)]),
    'gnu-dumpdir.tar': Buffer.concat([wrapping('dd', 'D', hidden), Buffer.alloc(1024)]),
    'volume-label.tar': Buffer.concat([wrapping('label', 'V', hidden), new TarBuilder().file('after', 'x').end().toBuffer()]),
    'unknown-type.tar': Buffer.concat([wrapping('weird', 'Z', hidden), Buffer.alloc(1024)]),
    // Pax size on a file (its data is 5 bytes, not the header's 0) and on a symlink (ignored).
    'pax-size-file.tar': new TarBuilder()
      .file('f', 'hello', {size: 0, pax: [['size', '5']]})
      .end()
      .toBuffer(),
    'pax-size-symlink.tar': Buffer.concat([
      new TarBuilder().raw(header({name: Buffer.from('PaxHeaders/l'), typeflag: 'x', size: paxBody([['size', '512']]).length})).toBuffer(),
      pad(paxBody([['size', '512']])),
      header({name: Buffer.from('l'), typeflag: '2', size: 0, linkname: Buffer.from('t')}),
      hidden,
      Buffer.alloc(1024),
    ]),
    // Two pax headers: the second replaces the first. A GNU long name beats a pax path.
    'pax-twice.tar': Buffer.concat([
      new TarBuilder()
        .raw(
          header({
            name: Buffer.from('PaxHeaders/a'),
            typeflag: 'x',
            size: paxBody([
              ['uid', '7'],
              ['path', 'first'],
            ]).length,
          }),
        )
        .toBuffer(),
      pad(
        paxBody([
          ['uid', '7'],
          ['path', 'first'],
        ]),
      ),
      new TarBuilder()
        .file('plain', 'x', {pax: [['gid', '9']]})
        .end()
        .toBuffer(),
    ]),
    'longname-beats-pax.tar': new TarBuilder()
      .file('short', 'x', {gnuLongName: true, pax: [['path', 'from-pax']]})
      .end()
      .toBuffer(),
    'longname-nul.tar': Buffer.concat([
      header({name: Buffer.from('././@LongLink'), typeflag: 'L', size: 12, gnuMagic: true}),
      pad(Buffer.from('kept\0dropped')),
      new TarBuilder().file('header-name', 'x').end().toBuffer(),
    ]),
    // A global header applies to nothing, and drops a pending 'x'.
    'global-pax.tar': Buffer.concat([
      new TarBuilder().raw(header({name: Buffer.from('PaxHeaders/a'), typeflag: 'x', size: paxBody([['path', 'pending']]).length})).toBuffer(),
      pad(paxBody([['path', 'pending']])),
      new TarBuilder()
        .globalPax([
          ['uid', '77'],
          ['path', 'hijacked'],
          ['mtime', '5'],
        ])
        .file('a', 'a')
        .end()
        .toBuffer(),
    ]),
    'pax-times.tar': new TarBuilder()
      .file('t', 'x', {
        pax: [
          ['mtime', '-315619200.25'],
          ['atime', '4102444800.5'],
        ],
      })
      .file('x', 'y', {xattrs: {'user.a': Buffer.from([0, 1, 255]), 'user.empty': ''}})
      .end()
      .toBuffer(),
    'base256.tar': Buffer.concat([base256, Buffer.alloc(1024)]),
    'signed-checksum.tar': Buffer.concat([signed, Buffer.alloc(1024)]),
    // End of archive: data after the marker is not an entry; one zero block then EOF is an end;
    // a zero block then a header is an error; no marker at all is an end (at a header boundary).
    'after-end.tar': Buffer.concat([new TarBuilder().file('a', 'a').end().toBuffer(), hidden]),
    'one-zero-block.tar': Buffer.concat([new TarBuilder().file('a', 'a').toBuffer(), Buffer.alloc(512)]),
    'zero-then-header.tar': zeroThenHeader,
    'no-marker.tar': new TarBuilder().file('a', 'a').toBuffer(),
    'pax-then-eof.tar': Buffer.concat([
      new TarBuilder().file('a', 'a').toBuffer(),
      header({name: Buffer.from('PaxHeaders/b'), typeflag: 'x', size: paxBody([['uid', '1']]).length}),
      pad(paxBody([['uid', '1']])),
    ]),
    // Refused by both: NUL-padded pax body, a pax body over 1 MiB, a negative size, a cut body.
    'pax-nul-padding.tar': Buffer.concat([
      header({name: Buffer.from('PaxHeaders/a'), typeflag: 'x', size: paxNul.length}),
      pad(paxNul),
      new TarBuilder().file('a', 'a').end().toBuffer(),
    ]),
    'pax-too-big.tar': Buffer.concat([
      header({name: Buffer.from('PaxHeaders/a'), typeflag: 'x', size: (1 << 20) + 1}),
      Buffer.alloc((1 << 20) + 512),
      Buffer.alloc(1024),
    ]),
    'cut-body.tar': new TarBuilder().file('a', 'abc', {size: 4096}).toBuffer(),
    'cut-header.tar': new TarBuilder()
      .file('a', 'a')
      .file('b', 'b')
      .toBuffer()
      .subarray(0, 1024 + 100),
  }
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)])
}
