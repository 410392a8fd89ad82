// The asynchronous tar walker (docker save archives) must read every archive exactly as the
// synchronous one (layers) does, which the differential test holds to Go's archive/tar.
import {describe, it} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {walkTarStream} from '../../../src/unpack/tar-stream'
import {hostileArchives} from '../../helpers/hostile-archives'
import {listArchive} from '../../helpers/pivot-tar-list'

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

describe('walkTarStream', () => {
  it('gives the same entries (names, types, sizes, data) or the same refusal as the layer reader, whatever the chunking', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-tar-stream-'))
    try {
      for (const [name, data] of Object.entries(hostileArchives())) {
        const file = path.join(dir, name)
        fs.writeFileSync(file, data)
        const expected = listArchive(file)
        for (const size of [1, 511, 4096, 1 << 20]) {
          if (size === 1 && data.length > 200_000) continue
          const seen: Array<{name: string; type: string; size: number; sha256: string}> = []
          let code: string | undefined
          try {
            await walkTarStream(chunks(data, size), entry => {
              const hash = createHash('sha256')
              let got = 0
              entry.body.on('data', (chunk: Buffer) => {
                hash.update(chunk)
                got += chunk.length
              })
              entry.body.once('end', () =>
                seen.push({name: Buffer.from(entry.raw, 'latin1').toString('hex'), type: entry.typeflag, size: got, sha256: hash.digest('hex')}),
              )
            })
          } catch (error) {
            code = (error as {code?: string}).code
          }
          assert.equal(code, expected.code, `${name} in chunks of ${size}`)
          if (expected.ok) {
            assert.deepEqual(
              seen,
              expected.entries.map(e => ({name: e.name, type: e.type, size: e.size, sha256: e.sha256})),
              `${name} in chunks of ${size}`,
            )
          }
        }
      }
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
  })
})
