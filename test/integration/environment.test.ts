// The suite runs against real things; these checks fail loudly when test/env/setup.sh did not
// produce them, instead of every other integration test failing in a confusing way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUSYBOX_IMAGE, DEBIAN_IMAGE, REGISTRY, docker } from '../helpers/fixtures';

test('the Docker daemon answers', () => {
  const version = docker(['version', '--format', '{{.Server.Version}}']).trim();
  assert.match(version, /^\d+\.\d+/);
});

test('the registry lists both fixture repositories', async () => {
  const res = await fetch(`http://${REGISTRY}/v2/_catalog`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { repositories: string[] };
  assert.ok(body.repositories.includes('pivot-test/busybox'), JSON.stringify(body));
  assert.ok(body.repositories.includes('pivot-test/debian'), JSON.stringify(body));
});

test('both fixture images are in the daemon', () => {
  for (const image of [BUSYBOX_IMAGE, DEBIAN_IMAGE]) {
    assert.match(docker(['image', 'inspect', '--format', '{{.Id}}', image]).trim(), /^sha256:[0-9a-f]{64}$/);
  }
});

test('the busybox image runs /bin/sh by default with a full PATH', () => {
  const config = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', BUSYBOX_IMAGE]));
  assert.deepEqual(config.Cmd, ['/bin/sh']);
  assert.ok(
    (config.Env as string[]).includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'),
  );
});

test('docker run works with the busybox image', () => {
  const out = docker(['run', '--rm', '--network', 'none', BUSYBOX_IMAGE, 'echo', 'hi']);
  assert.equal(out, 'hi\n');
});

test('the Debian image is Debian 12', () => {
  const out = docker(['run', '--rm', '--network', 'none', DEBIAN_IMAGE, 'cat', '/etc/debian_version']);
  assert.match(out, /^12/);
});

test('the registry holds the same busybox build as the daemon', async () => {
  const res = await fetch(`http://${REGISTRY}/v2/pivot-test/busybox/manifests/latest`, {
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(res.status, 200);
  const manifest = (await res.json()) as { config: { digest: string } };
  const id = docker(['image', 'inspect', '--format', '{{.Id}}', BUSYBOX_IMAGE]).trim();
  assert.equal(manifest.config.digest, id);
});
