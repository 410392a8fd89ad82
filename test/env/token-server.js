#!/usr/bin/env node
// A small token server for the token-auth test registry (docker distribution's token spec):
//   GET /token?service=S&scope=repository:NAME:pull[,push]   [Authorization: Basic ...]
// answers {"token", "access_token", "expires_in", "issued_at"} with an ES256 JWT whose header
// carries the signing certificate (x5c), which the registry checks against its rootcertbundle.
// Anonymous callers get pull only; USER:PASS pairs from --users get what they ask; a wrong
// password is a 401. Plain JavaScript (no build step): test/env/registries.sh starts it.
'use strict'
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')

const args = Object.fromEntries(
  process.argv.slice(2).map(a => {
    const m = /^--([^=]+)=(.*)$/.exec(a)
    if (!m) throw new Error(`bad argument ${a}`)
    return [m[1], m[2]]
  }),
)
const port = Number(args.port)
const key = crypto.createPrivateKey(fs.readFileSync(args.key))
const cert = new crypto.X509Certificate(fs.readFileSync(args.cert))
const users = new Map(
  (args.users || '')
    .split(',')
    .filter(Boolean)
    .map(p => [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)]),
)
const ttl = Number(args.ttl || 300)

const b64url = buf => Buffer.from(buf).toString('base64url')

function sign(claims) {
  const header = {alg: 'ES256', typ: 'JWT', x5c: [cert.raw.toString('base64')]}
  const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
  const signature = crypto.sign('sha256', Buffer.from(data), {key, dsaEncoding: 'ieee-p1363'})
  return `${data}.${b64url(signature)}`
}

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://x')
    if (url.pathname !== '/token') {
      res.writeHead(404).end()
      return
    }
    let user = ''
    const auth = req.headers.authorization
    if (auth) {
      const m = /^Basic (.+)$/.exec(auth)
      const text = m ? Buffer.from(m[1], 'base64').toString('utf8') : ''
      const name = text.slice(0, text.indexOf(':'))
      if (!m || !users.has(name) || users.get(name) !== text.slice(text.indexOf(':') + 1)) {
        res.writeHead(401, {'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="pivot-test-token"'})
        res.end(JSON.stringify({errors: [{code: 'UNAUTHORIZED', message: 'incorrect username or password'}]}))
        return
      }
      user = name
    }
    const access = []
    for (const scope of url.searchParams.getAll('scope')) {
      const [type, name, actions] = scope.split(':')
      if (type !== 'repository' || !name) continue
      const wanted = (actions || '').split(',').filter(Boolean)
      access.push({type, name, actions: user ? wanted : wanted.filter(a => a === 'pull')})
    }
    const now = Math.floor(Date.now() / 1000)
    const token = sign({
      iss: args.issuer,
      sub: user,
      aud: url.searchParams.get('service') || args.service,
      exp: now + ttl,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomBytes(12).toString('hex'),
      access,
    })
    res.writeHead(200, {'Content-Type': 'application/json'})
    res.end(JSON.stringify({token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString()}))
  })
  .listen(port, '127.0.0.1', () => process.stderr.write(`token server on 127.0.0.1:${port}\n`))
