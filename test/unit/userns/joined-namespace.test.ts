import * as assert from 'node:assert/strict'
import {test} from 'node:test'
import {writeMaps, type MapIo} from '../../../src/userns/spawn-in-userns'

test("a joined user namespace ('none' writer) gets no map written, as root or not", async () => {
  for (const euid of [0, 1000]) {
    const calls: string[] = []
    const io: MapIo = {
      euid,
      egid: euid,
      writeFile: file => calls.push(`write ${file}`),
      runMapper: async tool => {
        calls.push(tool)
      },
    }
    await writeMaps(7, {maps: {uid: [], gid: []}, writer: 'none'}, io)
    assert.deepEqual(calls, [])
  }
})
