import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const RUN = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'run.js')

// The build runs it (module-bundle --code-cache, from src/runtime/monitor/build.sh), as root or
// not: it must leave nothing behind, start no process and fail on nothing a build machine lacks.
test("run's code cache warm-up makes nothing outside its temp dir and removes that", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-warm-test-'))
  try {
    const script = `require(${JSON.stringify(RUN)}).warmCodeCache().then(() => console.log(JSON.stringify({children: process.getActiveResourcesInfo().filter(r => r === 'ProcessWrap').length})))`
    const out = execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: {...process.env, TMPDIR: tmp, PIVOT_CACHE_DIR: path.join(tmp, 'unused')},
    })
    assert.deepEqual(JSON.parse(out), {children: 0})
    assert.deepEqual(fs.readdirSync(tmp), [], 'its temp dir (the cache, the container, the init layer, the seccomp cache) is gone')
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true})
  }
})
