// Run by test/run-all.sh right after test/env/setup.sh: the suite runs against real things, and
// these checks stop the run with one line each when setup did not produce them, instead of every
// integration test failing in a confusing way. They are part of the setup, not tests: nothing
// here is counted as a passing test.
import assert from 'node:assert/strict'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, REGISTRY, docker} from '../helpers/fixtures'

const CHECKS: Array<[string, () => void | Promise<void>]> = [
  [
    'the Docker daemon answers',
    () => {
      assert.match(docker(['version', '--format', '{{.Server.Version}}']).trim(), /^\d+\.\d+/)
    },
  ],
  [
    'the registry lists both fixture repositories',
    async () => {
      const res = await fetch(`http://${REGISTRY}/v2/_catalog`)
      assert.equal(res.status, 200)
      const body = (await res.json()) as {repositories: string[]}
      assert.ok(body.repositories.includes('pivot-test/busybox'), JSON.stringify(body))
      assert.ok(body.repositories.includes('pivot-test/debian'), JSON.stringify(body))
    },
  ],
  [
    'both fixture images are in the daemon',
    () => {
      for (const image of [BUSYBOX_IMAGE, DEBIAN_IMAGE]) {
        assert.match(docker(['image', 'inspect', '--format', '{{.Id}}', image]).trim(), /^sha256:[0-9a-f]{64}$/)
      }
    },
  ],
  [
    'the busybox image runs /bin/sh by default with a full PATH',
    () => {
      const config = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', BUSYBOX_IMAGE]))
      assert.deepEqual(config.Cmd, ['/bin/sh'])
      assert.ok((config.Env as string[]).includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'), JSON.stringify(config.Env))
    },
  ],
  [
    'docker run works with the busybox image',
    () => {
      assert.equal(docker(['run', '--rm', '--network', 'none', BUSYBOX_IMAGE, 'echo', 'hi']), 'hi\n')
    },
  ],
  [
    'the Debian image is Debian 12',
    () => {
      assert.match(docker(['run', '--rm', '--network', 'none', DEBIAN_IMAGE, 'cat', '/etc/debian_version']), /^12/)
    },
  ],
  [
    'the registry holds the same busybox build as the daemon',
    async () => {
      const res = await fetch(`http://${REGISTRY}/v2/pivot-test/busybox/manifests/latest`, {
        headers: {Accept: 'application/vnd.docker.distribution.manifest.v2+json'},
      })
      assert.equal(res.status, 200)
      const manifest = (await res.json()) as {config: {digest: string}}
      assert.equal(manifest.config.digest, docker(['image', 'inspect', '--format', '{{.Id}}', BUSYBOX_IMAGE]).trim())
    },
  ],
]

async function main(): Promise<void> {
  let failed = 0
  for (const [name, check] of CHECKS) {
    try {
      await check()
    } catch (error) {
      failed++
      const message = error instanceof Error ? error.message : String(error)
      process.stderr.write(`check-env: ${name}: FAILED: ${message.split('\n').join(' ')}\n`)
    }
  }
  if (failed > 0) {
    process.stderr.write(`check-env: ${failed} of ${CHECKS.length} checks failed: run test/env/setup.sh as root (see test/env/README.md)\n`)
    process.exitCode = 1
  }
}

void main()
