// The cgroup v2 tier. This machine's kernel runs cgroup v1 (hybrid) and must stay so, so
// test/vm/run-vm.sh boots Debian's own kernel with pure cgroup v2 (cgroup_no_v1=all) in QEMU and
// runs pivot's cgroup tests there: the cgroups module against the real kernel
// (test/integration/runtime/cgroups.test.ts) and `pivot run`/`prune` through the CLI
// (test/vm/guest/cgroup-v2-run.guest.ts). Each test inside becomes a subtest here, so a failure
// in the VM fails this suite; then the host is checked for leftovers (QEMU, temp disks).
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {test} from 'node:test'
import {REPO_ROOT} from '../helpers/fixtures'
import {processesMentioning} from '../helpers/processes-mentioning'

/** run-vm.sh kills a VM that has not finished by then (PIVOT_VM_TIMEOUT overrides it). */
const VM_TIMEOUT_S = Number(process.env.PIVOT_VM_TIMEOUT ?? 900)
/** The script's own time on top: building the image the first time, making the data disk. */
const SCRIPT_TIMEOUT_MS = (VM_TIMEOUT_S + 600) * 1000

interface GuestResult {
  name: string
  file?: string
  ok: boolean
  skip: boolean
  type?: string
  durationMs: number
  error?: string
}

interface VmRun {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs run-vm.sh in its own process group, so that a timeout can kill it and everything it started. */
function runVm(): Promise<VmRun> {
  return new Promise((resolve, reject) => {
    const env = {...process.env}
    delete env.NODE_EXTRA_CA_CERTS
    const child = spawn('bash', [path.join(REPO_ROOT, 'test', 'vm', 'run-vm.sh')], {cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      // SIGTERM first: the script's trap kills QEMU and removes its temp dir.
      process.kill(-child.pid!, 'SIGTERM')
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL')
        } catch {
          // already gone
        }
      }, 10_000).unref()
    }, SCRIPT_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      if (timedOut) reject(new Error(`run-vm.sh did not end within ${SCRIPT_TIMEOUT_MS / 1000} s; killed it\n${tail(stderr, 40)}`))
      else resolve({status, signal, stdout, stderr})
    })
  })
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

test('cgroup v2 in a VM (Debian kernel, cgroup_no_v1=all, QEMU TCG)', {timeout: SCRIPT_TIMEOUT_MS + 60_000}, async t => {
  const started = Date.now()
  const run = await runVm()
  const workDir = /^run-vm: work dir (\S+)$/m.exec(run.stderr)?.[1]
  // No leftovers on the host, whatever happened inside.
  assert.ok(workDir, `run-vm.sh did not get as far as making its disks:\n${tail(run.stderr, 40)}`)
  assert.equal(fs.existsSync(workDir), false, `${workDir} (temp disks) removed`)
  assert.deepEqual(processesMentioning(workDir), [], 'no QEMU left running')
  assert.equal(run.status, 0, `run-vm.sh failed (status ${run.status ?? run.signal}):\n${tail(run.stderr, 60)}`)

  const lines = run.stdout.split('\n').filter(line => line.startsWith('{'))
  const results = lines.map(line => JSON.parse(line) as GuestResult & {done?: boolean; status?: number})
  const done = results.find(result => result.done)
  assert.ok(done, `no end marker in the VM's results:\n${tail(run.stderr, 60)}`)
  const tests = results.filter(result => !result.done && (result.type !== 'suite' || !result.ok))
  for (const line of run.stderr.split('\n')) if (/^(run-vm|vm-image): /.test(line)) t.diagnostic(line)
  t.diagnostic(`VM run: ${Math.round((Date.now() - started) / 1000)} s, ${tests.length} tests inside`)
  for (const result of tests) {
    const name = `${result.file ? path.basename(result.file) : '?'}: ${result.name}`
    await t.test(name, {skip: result.skip}, () => {
      if (!result.ok) throw new Error(`failed in the VM (${result.durationMs} ms): ${result.error ?? 'no error text'}`)
    })
  }
  // Both files ran their tests (a file that cannot load reports one failure, shown above).
  for (const file of ['cgroups.test.js', 'cgroup-v2-run.guest.js']) {
    const count = tests.filter(result => result.file !== undefined && path.basename(result.file) === file).length
    assert.ok(count >= 5, `only ${count} results of ${file} came back from the VM`)
  }
  assert.equal(done.status, 0, `node --test inside the VM failed; the VM's console:\n${tail(run.stderr, 80)}`)
})
