import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ImageReferenceError, familiarName, formatReference, isValidTag, normalizeName, normalizeReference, parseReference} from '../../../src/reference'

const F64 = 'f'.repeat(64)
const SHA = `sha256:${F64}`

// Valid cases from docker's distribution/reference reference_test.go (TestReferenceParse).
const validParse: Array<[string, {domain: string; path: string; tag?: string; digest?: string}]> = [
  ['test_com', {domain: '', path: 'test_com'}],
  ['test.com:tag', {domain: '', path: 'test.com', tag: 'tag'}],
  ['test.com:5000', {domain: '', path: 'test.com', tag: '5000'}],
  ['test.com/repo:tag', {domain: 'test.com', path: 'repo', tag: 'tag'}],
  ['test:5000/repo', {domain: 'test:5000', path: 'repo'}],
  ['test:5000/repo:tag', {domain: 'test:5000', path: 'repo', tag: 'tag'}],
  [`test:5000/repo@${SHA}`, {domain: 'test:5000', path: 'repo', digest: SHA}],
  [`test:5000/repo:tag@${SHA}`, {domain: 'test:5000', path: 'repo', tag: 'tag', digest: SHA}],
  ['lowercase:Uppercase', {domain: '', path: 'lowercase', tag: 'Uppercase'}],
  // Like Go's regexp, the optional domain group matches first: `a/...` has domain `a`.
  ['a/'.repeat(127) + 'a:tag-puts-this-over-max', {domain: 'a', path: 'a/'.repeat(126) + 'a', tag: 'tag-puts-this-over-max'}],
  ['sub-dom1.foo.com/bar/baz/quux', {domain: 'sub-dom1.foo.com', path: 'bar/baz/quux'}],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', {domain: 'sub-dom1.foo.com', path: 'bar/baz/quux', tag: 'some-long-tag'}],
  ['b.gcr.io/test.example.com/my-app:test.example.com', {domain: 'b.gcr.io', path: 'test.example.com/my-app', tag: 'test.example.com'}],
  ['xn--n3h.com/myimage:xn--n3h.com', {domain: 'xn--n3h.com', path: 'myimage', tag: 'xn--n3h.com'}],
  [
    `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${'f'.repeat(128)}`,
    {domain: 'xn--7o8h.com', path: 'myimage', tag: 'xn--7o8h.com', digest: `sha512:${'f'.repeat(128)}`},
  ],
  ['foo_bar.com:8080', {domain: '', path: 'foo_bar.com', tag: '8080'}],
  ['foo/foo_bar.com:8080', {domain: 'foo', path: 'foo_bar.com', tag: '8080'}],
  ['192.168.1.1', {domain: '', path: '192.168.1.1'}],
  ['192.168.1.1:tag', {domain: '', path: '192.168.1.1', tag: 'tag'}],
  ['192.168.1.1:5000', {domain: '', path: '192.168.1.1', tag: '5000'}],
  ['192.168.1.1/repo', {domain: '192.168.1.1', path: 'repo'}],
  ['192.168.1.1:5000/repo', {domain: '192.168.1.1:5000', path: 'repo'}],
  ['192.168.1.1:5000/repo:5050', {domain: '192.168.1.1:5000', path: 'repo', tag: '5050'}],
  ['[2001:db8::1]/repo', {domain: '[2001:db8::1]', path: 'repo'}],
  ['[2001:db8:1:2:3:4:5:6]/repo:tag', {domain: '[2001:db8:1:2:3:4:5:6]', path: 'repo', tag: 'tag'}],
  ['[2001:db8::1]:5000/repo', {domain: '[2001:db8::1]:5000', path: 'repo'}],
  ['[2001:db8::1]:5000/repo:tag', {domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag'}],
  [`[2001:db8::1]:5000/repo@${SHA}`, {domain: '[2001:db8::1]:5000', path: 'repo', digest: SHA}],
  [`[2001:db8::1]:5000/repo:tag@${SHA}`, {domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag', digest: SHA}],
  ['[2001:db8::]:5000/repo', {domain: '[2001:db8::]:5000', path: 'repo'}],
  ['[::1]:5000/repo', {domain: '[::1]:5000', path: 'repo'}],
  ['a__b/c-d--e/f.g', {domain: '', path: 'a__b/c-d--e/f.g'}],
  ['repo:_tag', {domain: '', path: 'repo', tag: '_tag'}],
  ['repo:' + 'a'.repeat(128), {domain: '', path: 'repo', tag: 'a'.repeat(128)}],
]

// Invalid cases (reference_test.go, normalize_test.go), with the reason docker gives.
const invalidParse: Array<[string, RegExp]> = [
  ['', /at least one component/],
  [':justtag', /invalid reference format/],
  [`@${SHA}`, /invalid reference format/],
  [`repo@sha256:${'f'.repeat(62)}`, /invalid checksum digest format/],
  [`validname@invaliddigest:${F64}`, /unsupported digest algorithm/],
  [`repo@sha256:${'F'.repeat(64)}`, /invalid checksum digest format/],
  [`repo@sha256:${'f'.repeat(31)}`, /invalid reference format/],
  ['Uppercase:tag', /must be lowercase/],
  ['test:5000/Uppercase/lowercase:tag', /must be lowercase/],
  ['a/'.repeat(128) + 'a:tag', /not be more than 255 characters/],
  ['aa/asdf$$^/aa', /invalid reference format/],
  ['a/a/a/a/', /invalid reference format/],
  ['[2001:db8::1]', /invalid reference format/],
  ['[2001:db8::1]:5000', /invalid reference format/],
  ['[2001:db8::1]:tag', /invalid reference format/],
  ['[fe80::1%eth0]:5000/repo', /invalid reference format/],
  ['[fe80::1%@invalidzone]:5000/repo', /invalid reference format/],
  ['repo:-tag', /invalid reference format/],
  ['repo:.tag', /invalid reference format/],
  ['repo:' + 'a'.repeat(129), /invalid reference format/],
  ['repo:', /invalid reference format/],
  ['repo@', /invalid reference format/],
  ['-docker', /invalid reference format/],
  ['docker-/x', /invalid reference format/],
  ['docker///docker', /invalid reference format/],
  ['re po', /invalid reference format/],
  ['repo\n:tag', /invalid reference format/],
  ['a..b', /invalid reference format/],
  ['a___b', /invalid reference format/],
  ['a-.b', /invalid reference format/],
  ['https://github.com/docker/docker', /invalid reference format/],
]

// ParseNormalizedNamed + TagNameOnly (normalize_test.go, TestParseRepositoryInfo and friends).
const normalized: Array<[string, string, string]> = [
  // input, canonical name, familiar name
  ['ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04', 'ubuntu:22.04'],
  ['library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['docker.io/library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['index.docker.io/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['index.docker.io/library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['fooo/bar', 'docker.io/fooo/bar:latest', 'fooo/bar:latest'],
  ['docker.io/fooo/bar', 'docker.io/fooo/bar:latest', 'fooo/bar:latest'],
  ['nonlibrary/ubuntu', 'docker.io/nonlibrary/ubuntu:latest', 'nonlibrary/ubuntu:latest'],
  ['other/library', 'docker.io/other/library:latest', 'other/library:latest'],
  ['library/foo/bar', 'docker.io/library/foo/bar:latest', 'library/foo/bar:latest'],
  ['ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base:latest', 'ubuntu-12.04-base:latest'],
  ['127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase:latest', '127.0.0.1:8000/private/moonbase:latest'],
  ['127.0.0.1:8000/privatebase', '127.0.0.1:8000/privatebase:latest', '127.0.0.1:8000/privatebase:latest'],
  ['localhost:8000/private/moonbase', 'localhost:8000/private/moonbase:latest', 'localhost:8000/private/moonbase:latest'],
  ['localhost/privatebase', 'localhost/privatebase:latest', 'localhost/privatebase:latest'],
  ['localhost:5000/busybox', 'localhost:5000/busybox:latest', 'localhost:5000/busybox:latest'],
  ['example.com/private/moonbase', 'example.com/private/moonbase:latest', 'example.com/private/moonbase:latest'],
  ['example.com:8000/private/moonbase:v1', 'example.com:8000/private/moonbase:v1', 'example.com:8000/private/moonbase:v1'],
  ['foo:5000', 'docker.io/library/foo:5000', 'foo:5000'],
  ['localhost', 'docker.io/library/localhost:latest', 'localhost:latest'],
  [`ubuntu@${SHA}`, `docker.io/library/ubuntu@${SHA}`, `ubuntu@${SHA}`],
  // A tag next to a digest: the digest pins the image, docker pulls by digest alone.
  [`ubuntu:22.04@${SHA}`, `docker.io/library/ubuntu@${SHA}`, `ubuntu:22.04@${SHA}`],
  ['[::1]:5000/repo:tag', '[::1]:5000/repo:tag', '[::1]:5000/repo:tag'],
]

const invalidNormalized: Array<[string, RegExp]> = [
  ['docker/Docker', /must be lowercase/],
  ['Docker/docker', /must be lowercase/],
  ['docker.io/docker/Docker', /must be lowercase/],
  ['UPPER', /must be lowercase/],
  ['-docker.io/docker/docker', /invalid reference format/],
  ['docker.io/docker///docker', /invalid reference format/],
  [F64, /64-byte hexadecimal/],
  ['a/'.repeat(126) + 'a', /not be more than 255 characters/], // docker.io/ pushes it over
  ['', /at least one component/],
  ['ubuntu:', /invalid reference format/],
  ['localhost:5000/', /invalid reference format/],
]

describe('parseReference (docker grammar)', () => {
  for (const [input, want] of validParse) {
    it(`accepts ${input.length > 60 ? input.slice(0, 57) + '...' : input}`, () => {
      assert.deepEqual({...parseReference(input)}, want)
    })
  }
  for (const [input, reason] of invalidParse) {
    it(`rejects ${JSON.stringify(input.length > 60 ? input.slice(0, 57) + '...' : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (e: unknown) => e instanceof ImageReferenceError && e.code === 'REFERENCE_INVALID' && reason.test(e.message) && !e.message.includes('\n'),
      )
    })
  }
})

describe('normalizeReference', () => {
  for (const [input, name, familiar] of normalized) {
    it(`${input.length > 60 ? input.slice(0, 57) + '...' : input} -> ${name.length > 60 ? name.slice(0, 57) + '...' : name}`, () => {
      const ref = normalizeReference(input)
      assert.equal(ref.name, name)
      assert.equal(normalizeName(input), name)
      assert.equal(familiarName(ref), familiar)
      // Normalising is idempotent.
      assert.equal(normalizeName(name), name)
    })
  }
  for (const [input, reason] of invalidNormalized) {
    it(`rejects ${JSON.stringify(input.length > 60 ? input.slice(0, 57) + '...' : input)}`, () => {
      assert.throws(
        () => normalizeReference(input),
        (e: unknown) => e instanceof ImageReferenceError && e.code === 'REFERENCE_INVALID' && reason.test(e.message) && !e.message.includes('\n'),
      )
    })
  }
  it('fills repository, domain, path and tag', () => {
    const ref = normalizeReference('ubuntu')
    assert.equal(ref.domain, 'docker.io')
    assert.equal(ref.path, 'library/ubuntu')
    assert.equal(ref.repository, 'docker.io/library/ubuntu')
    assert.equal(ref.tag, 'latest')
    assert.equal(ref.digest, undefined)
  })
  it('adds no tag to a digest reference', () => {
    const ref = normalizeReference(`busybox@${SHA}`)
    assert.equal(ref.tag, undefined)
    assert.equal(ref.digest, SHA)
  })
  it('accepts exactly 255 characters of name after normalisation', () => {
    const path = 'a/'.repeat(121) + 'abc' // 245 chars; docker.io/ makes 255
    assert.equal(normalizeReference(path).repository.length, 255)
    assert.throws(() => normalizeReference(path + 'd'), /255/)
  })
  it('names what the user typed, not the normalised form', () => {
    assert.throws(
      () => normalizeReference('ubuntu:'),
      (e: Error) => e.message.startsWith('invalid reference "ubuntu:"'),
    )
  })
  it('keeps the message on one line for hostile input', () => {
    assert.throws(
      () => normalizeReference('bad\nname\r\u0000'),
      (e: Error) => !/[\n\r]/.test(e.message) && !e.message.includes('\0'),
    )
  })
})

describe('familiarName / formatReference / isValidTag', () => {
  it('accepts a string', () => {
    assert.equal(familiarName('docker.io/library/busybox:1.36'), 'busybox:1.36')
    assert.equal(familiarName('localhost:5000/pivot-test/busybox'), 'localhost:5000/pivot-test/busybox:latest')
  })
  it('round-trips parse and format', () => {
    for (const [input] of validParse) assert.equal(formatReference(parseReference(input)), input)
  })
  it('tag grammar', () => {
    for (const ok of ['latest', '1', '_', 'A.b-C_d', 'x'.repeat(128)]) assert.ok(isValidTag(ok), ok)
    for (const bad of ['', '.x', '-x', 'x'.repeat(129), 'a/b', 'a:b', 'a@b', 'é']) assert.ok(!isValidTag(bad), bad)
  })
})
