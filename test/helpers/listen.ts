import type * as http from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * Listens on 127.0.0.1 at a free port of [low, high] (a test's own range: helpers running at the
 * same time use others), starting at a random one so that parallel files rarely collide; returns
 * the port.
 */
export async function listenInRange(server: http.Server, low: number, high: number): Promise<number> {
  for (let port = low + Math.floor(Math.random() * (high - low + 1)), tries = 0; ; port++, tries++) {
    if (port > high) port = low
    if (tries > high - low + 1) throw new Error(`no free port in ${low}-${high}`)
    const ok = await new Promise<boolean>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error))
      server.once('error', onError)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError)
        resolve(true)
      })
    })
    if (ok) return (server.address() as AddressInfo).port
  }
}
