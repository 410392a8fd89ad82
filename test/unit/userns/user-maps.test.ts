// The rootless user namespace's maps (src/userns/user-maps.ts) from subuid/subgid files.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {userNamespaceSpec} from '../../../src/userns/user-maps'

const temps: string[] = []
after(() => {
  for (const dir of temps) fs.rmSync(dir, {recursive: true, force: true})
})

function files(subuid: string, subgid: string): {subuid: string; subgid: string} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-user-maps-'))
  temps.push(dir)
  fs.writeFileSync(path.join(dir, 'subuid'), subuid)
  fs.writeFileSync(path.join(dir, 'subgid'), subgid)
  return {subuid: path.join(dir, 'subuid'), subgid: path.join(dir, 'subgid')}
}

describe('userNamespaceSpec', () => {
  const uid = process.geteuid!()
  const gid = process.getegid!()

  it("maps 0 to the user and 1.. to the user's ranges (by uid), one after the other", () => {
    const spec = userNamespaceSpec(files(`other:50000:10\n${uid}:100000:65536\n`, `${uid}:200000:1000\n${uid}:300000:10\n`))
    assert.equal(spec.single, false)
    assert.deepEqual(spec.maps.uid, [
      {inside: 0, outside: uid, count: 1},
      {inside: 1, outside: 100000, count: 65536},
    ])
    assert.deepEqual(spec.maps.gid, [
      {inside: 0, outside: gid, count: 1},
      {inside: 1, outside: 200000, count: 1000},
      {inside: 1001, outside: 300000, count: 10},
    ])
  })

  it('falls back to the single-id map when either file has no range for the user', () => {
    const spec = userNamespaceSpec(files(`${uid}:100000:65536\n`, 'other:100000:65536\n'))
    assert.equal(spec.single, true)
    assert.deepEqual(spec.maps, {uid: [{inside: 0, outside: uid, count: 1}], gid: [{inside: 0, outside: gid, count: 1}]})
  })
})
