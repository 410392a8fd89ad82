// `pivot exec`: the exec'd process is in every namespace and the cgroup of the container's PID 1
// and has exactly its walls (Cap*, Seccomp, NoNewPrivs, uid/gids), with default and with narrowed
// settings; its exit codes, -e, -w and -i against docker exec on the same image.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
let cache: string
const NAME = `pivot-lifecycle-exec-${process.pid}`

before(() => {
  cache = tempDir('pivot-exec')
  seedImage(cache, B)
})

after(() => {
  spawnSync(DOCKER_BIN, ['rm', '-f', NAME], {stdio: 'ignore'})
})

function pv(args: string[], input = '') {
  return pivot(args, {cacheDir: cache, input, timeout: 60_000})
}

function dk(args: string[], input = '') {
  const r = spawnSync(DOCKER_BIN, args, {encoding: 'utf8', input, timeout: 60_000})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** What must be the same for PID 1 and the exec'd process, printed by a shell inside. */
const PROBE = [
  'for p in self 1; do',
  '  grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/$p/status',
  '  for ns in cgroup ipc mnt net pid uts user; do echo "$ns $(readlink /proc/$p/ns/$ns)"; done',
  '  cat /proc/$p/cgroup',
  '  echo ---',
  'done',
].join('\n')

function sameWalls(args: string[]): void {
  const run = pv(['run', '-d', '--net', 'none', '--name', 'walls', ...args, B, 'sleep', '600'])
  assert.equal(run.status, 0, run.stderr)
  try {
    const r = pv(['exec', 'walls', 'sh', '-c', PROBE])
    assert.equal(r.status, 0, r.stderr)
    const [self, pid1] = r.stdout.split('---\n')
    assert.ok(self.includes('CapEff:') && self.includes('Seccomp:') && self.includes('mnt mnt:['), self)
    assert.equal(self, pid1, "the exec'd process and PID 1 differ")
  } finally {
    assert.equal(pv(['rm', '-f', 'walls']).status, 0)
  }
}

test("exec: PID 1's namespaces, cgroup and walls, with docker's defaults", () => {
  sameWalls([])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('exec: the same with another user, capabilities dropped and no-new-privileges; and --privileged', () => {
  sameWalls(['-u', '1000:1000', '--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', '--security-opt', 'no-new-privileges'])
  sameWalls(['--privileged'])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('exec against docker exec: status, -e, -w, -i, a missing command, a stopped container', () => {
  assert.equal(dk(['run', '-d', '--network', 'none', '--name', NAME, '-e', 'FROM_RUN=1', '-w', '/etc', B, 'sleep', '600']).status, 0)
  assert.equal(pv(['run', '-d', '--net', 'none', '--name', NAME, '-e', 'FROM_RUN=1', '-w', '/etc', B, 'sleep', '600']).status, 0)
  const cases: Array<{flags?: string[]; cmd: string[]; input?: string}> = [
    {cmd: ['sh', '-c', 'echo "$FROM_RUN $(pwd)"; exit 5']},
    {flags: ['-e', 'EXTRA=x y', '-w', '/tmp'], cmd: ['sh', '-c', 'echo "$FROM_RUN $EXTRA $(pwd)"']},
    {flags: ['-i'], cmd: ['sh', '-c', 'cat; echo end'], input: 'from stdin\n'},
    {cmd: ['sh', '-c', 'cat; readlink /proc/self/fd/0'], input: 'not read\n'},
    {cmd: ['no-such-command']},
    {cmd: ['/etc/passwd']},
    {cmd: ['ps', '-o', 'comm']},
  ]
  for (const c of cases) {
    const d = dk(['exec', ...(c.flags ?? []), NAME, ...c.cmd], c.input)
    const p = pv(['exec', ...(c.flags ?? []), NAME, ...c.cmd], c.input)
    const what = [...(c.flags ?? []), ...c.cmd].join(' ')
    assert.equal(p.status, d.status, `${what}: pivot ${p.stderr} docker ${d.stderr}`)
    if (p.status === 126) {
      // docker 20.10 prints runc's failure on stdout; pivot's errors go to stderr, one line.
      assert.equal(p.stdout, '')
      assert.match(p.stderr, /^pivot: exec: .*\n$/)
    } else assert.equal(p.stdout, d.stdout, what)
  }
  dk(['stop', '-t', '0', NAME])
  assert.equal(pv(['stop', '-t', '0', NAME]).status, 0)
  const d = dk(['exec', NAME, 'true'])
  const p = pv(['exec', NAME, 'true'])
  assert.equal(p.status, d.status)
  assert.match(p.stderr, /^pivot: container [0-9a-f]{64} is not running\n$/)
  assert.equal(pv(['rm', NAME]).status, 0)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('exec runs its helper from a sealed memfd: a `#!/proc/self/exe` command cannot reach the host binary (CVE-2019-5736)', async () => {
  const helper = `${REPO_ROOT}/dist/monitor/pivot-exec`
  const before = fs.readFileSync(helper)
  assert.equal(pv(['run', '-d', '--net', 'none', '--name', 'sealed', B, 'sleep', '600']).status, 0)
  try {
    // The command's interpreter is the exec'ing process itself: a sealed copy, which the kernel
    // does not even open as an interpreter (126, one line); the host binary is untouched.
    assert.equal(pv(['exec', 'sealed', 'sh', '-c', 'printf "#!/proc/self/exe\\n" > /x && chmod +x /x']).status, 0)
    const r = pv(['exec', 'sealed', '/x'])
    assert.equal(r.status, 126, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^pivot: exec: \/x: .*\n$/)
    // While an exec runs, the helper on the host is the memfd copy, not the file in dist/.
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
    delete env.NODE_EXTRA_CA_CERTS
    const long = spawn(PIVOT_BIN, ['exec', 'sealed', 'sleep', '3'], {env, stdio: 'ignore'})
    const done = new Promise(resolve => long.on('close', resolve))
    let exe = ''
    const deadline = Date.now() + 20_000
    while (exe === '' && Date.now() < deadline) {
      for (const e of fs.readdirSync('/proc').filter(e => /^\d+$/.test(e))) {
        try {
          const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')
          if (argv.includes('sleep') && argv.includes('--') && argv.some(a => a.endsWith('cgroup.procs'))) exe = fs.readlinkSync(`/proc/${e}/exe`)
        } catch {
          // gone, or not ours
        }
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    await done
    assert.match(exe, /^\/memfd:pivot-exec/)
    assert.deepEqual(fs.readFileSync(helper), before)
  } finally {
    assert.equal(pv(['rm', '-f', 'sealed']).status, 0)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
