import * as assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {test} from 'node:test'
import {RUNC_BIN, RUNTIME_BIN, RUNTIME_TOOLS_DIR, runValidation} from '../helpers/oci'

/**
 * The OCI runtime-tools validation suite (built by test/env/oci.sh from ../shared/oci-runtime-tools)
 * against pivot-runtime and runc in the same run. pivot must pass every test runc passes here,
 * plus the two that only a runtime refusing unknown names passes; the per-test results of both
 * are printed. That includes the user-namespace tests (linux_uid_mappings, linux_ns_nopath).
 */
const MUST_PASS_BEYOND_RUNC = ['process_capabilities_fail', 'process_rlimits_fail']
/**
 * Programs whose verdict is a race of the suite's own, for every runtime (README of
 * ../shared/oci-runtime-tools): a runc pass there is luck, not a bar. pidfile starts `true`, then
 * kills it and counts "container not running" as a failure: it passes only when the kill comes
 * before `true` exits (runc won 1 race of 3 here, on a loaded machine).
 */
const RACY_IN_THE_SUITE = ['pidfile']

test('runtime-tools validation: pivot-runtime passes what runc passes, and refuses unknown capabilities and rlimits', {timeout: 1_800_000}, () => {
  const names = fs
    .readdirSync(path.join(RUNTIME_TOOLS_DIR, 'validation'))
    .filter(n => fs.existsSync(path.join(RUNTIME_TOOLS_DIR, 'validation', n, `${n}.t`)))
    .sort()
  assert.ok(names.length >= 50, `expected the suite's ~58 programs, found ${names.length}`)
  const rows: string[] = []
  const missing: string[] = []
  let runcPasses = 0
  let pivotPasses = 0
  for (const name of names) {
    const runc = runValidation(name, RUNC_BIN)
    const pivot = runValidation(name, RUNTIME_BIN)
    fs.rmSync('/tmp/ocitest', {recursive: true, force: true})
    for (const entry of fs.readdirSync('/tmp')) if (entry.startsWith('ocitest')) fs.rmSync(path.join('/tmp', entry), {recursive: true, force: true})
    runcPasses += Number(runc.pass)
    pivotPasses += Number(pivot.pass)
    rows.push(`${name.padEnd(36)} runc ${runc.pass ? 'pass' : 'FAIL'}   pivot ${pivot.pass ? 'pass' : 'FAIL'}`)
    const bar = (runc.pass && !RACY_IN_THE_SUITE.includes(name)) || MUST_PASS_BEYOND_RUNC.includes(name)
    if (bar && !pivot.pass) missing.push(`${name}:\n${pivot.output.slice(-1500)}`)
  }
  console.log(rows.join('\n'))
  console.log(`runc passes ${runcPasses} of ${names.length}, pivot-runtime ${pivotPasses}`)
  assert.deepEqual(missing, [], 'tests runc passes (or the two _fail tests) that pivot-runtime fails')
})
