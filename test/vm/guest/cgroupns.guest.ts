// `pivot run --cgroupns` on a real cgroup v2 kernel (docker's default there: private): the
// container sees its own cgroup as `/` in /proc/self/cgroup and as /sys/fs/cgroup, read-only, so
// runtimes that size themselves from cgroup limits (JVM, Go, .NET) see the container's. Runs only
// inside the test VM (test/vm/run-vm.sh); the busybox fixture is imported as cgroup-v2-run's is.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {pivot, tempDir} from '../../helpers/fixtures'
import {cleanUp} from '../../helpers/security'
import {cacheCgroups} from '../../helpers/seed-image'

const BUSYBOX_TAR = process.env.PIVOT_VM_BUSYBOX_TAR ?? '/data/busybox.tar'
const SLOW = 120_000
const MiB = 1024 * 1024

let cache: string

before(() => {
  cache = tempDir('pivot-vm-cgroupns')
  const r = pivot(['import', BUSYBOX_TAR, 'busybox'], {cacheDir: cache, timeout: SLOW})
  assert.equal(r.status, 0, `pivot import: ${r.stderr}`)
})

after(() => cleanUp(cache))

function run(args: string[], script: string): string {
  const r = pivot(['run', '--rm', '--net', 'none', ...args, 'busybox', 'sh', '-c', script], {cacheDir: cache, timeout: SLOW})
  assert.equal(r.status, 0, `pivot run ${args.join(' ')}: ${r.stderr}`)
  assert.deepEqual(cacheCgroups(cache), [], 'no cgroup left')
  return r.stdout
}

describe('--cgroupns on cgroup v2', () => {
  it("private by default: /proc/self/cgroup is 0::/ and /sys/fs/cgroup is the container's cgroup, read-only", () => {
    const out = run(
      ['--memory', '64m', '--pids-limit', '77'],
      'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; awk \'$2=="/sys/fs/cgroup"{print $3, substr($4, 1, 2)}\' /proc/mounts; mkdir /sys/fs/cgroup/x 2>/dev/null; echo $?',
    )
    assert.equal(out, `0::/\n${64 * MiB}\n77\ncgroup2 ro\n1\n`)
  })

  it('--cgroupns private says the same', () => {
    assert.equal(run(['--cgroupns', 'private'], 'cat /proc/self/cgroup'), '0::/\n')
  })

  it("--cgroupns host: the host path in /proc/self/cgroup, still only the container's own cgroup under /sys/fs/cgroup", () => {
    const out = run(
      ['--cgroupns', 'host', '--memory', '32m'],
      'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max; touch /sys/fs/cgroup/memory.max 2>/dev/null; echo $?',
    )
    const [cgroupLine, max, touched] = out.trim().split('\n')
    assert.match(cgroupLine, /^0::\/pivot\/[0-9a-f]{12}-[0-9a-f]{64}$/)
    assert.equal(max, String(32 * MiB))
    assert.equal(touched, '1')
  })

  it('--memory-swap: memory.swap.max is the swap on top of --memory', () => {
    const out = run(['--memory', '64m', '--memory-swap', '96m'], 'cat /sys/fs/cgroup/memory.swap.max 2>/dev/null || echo none')
    assert.ok(out === `${32 * MiB}\n` || out === 'none\n', out)
  })
})
