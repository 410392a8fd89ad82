/** Shared by the unpack tests (unit and security): temp dirs, feeding a buffer to unpackLayer, xattrs. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {KoffiSyscalls} from '../../src/sys/koffi-syscalls'
import {unpackLayer, type UnpackResult} from '../../src/unpack/unpack-layer'

const sys = new KoffiSyscalls()
const made: string[] = []

/** A fresh empty directory under the OS temp dir; removed by cleanupTempDirs(). */
export function tempDir(label = 'unpack'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pivot-${label}-`))
  made.push(dir)
  return dir
}

export function cleanupTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, {recursive: true, force: true})
}

/** The buffer as a stream, in chunks of `chunk` bytes (odd sizes split headers across reads). */
export function streamOf(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let off = 0; off < data.length; off += chunk) yield data.subarray(off, off + chunk)
    })(),
    {objectMode: false},
  )
}

/** Unpacks `data` into a new temp dir. */
export async function unpackBuffer(data: Buffer, options: {chunk?: number; signal?: AbortSignal} = {}): Promise<{dest: string; result: UnpackResult}> {
  const dest = tempDir()
  const result = await unpackLayer(streamOf(data, options.chunk), dest, {signal: options.signal})
  return {dest, result}
}

export function xattr(file: string, name: string): Buffer | null {
  return sys.lgetxattrBytes(Buffer.from(file), name)
}

export function xattrNames(file: string): string[] {
  return sys.llistxattrBytes(Buffer.from(file)).sort()
}

/** Every path under dir (relative, latin1 byte strings), without following symlinks. */
export function walk(dir: string, rel = ''): string[] {
  const out: string[] = []
  const abs = rel === '' ? dir : `${dir}/${rel}`
  for (const name of fs.readdirSync(Buffer.from(abs, 'latin1'), {encoding: 'latin1'}) as string[]) {
    const child = rel === '' ? name : `${rel}/${name}`
    out.push(child)
    if (fs.lstatSync(Buffer.from(`${dir}/${child}`, 'latin1')).isDirectory()) out.push(...walk(dir, child))
  }
  return out
}

export function majorMinor(rdev: number): [number, number] {
  return [((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff), (rdev & 0xff) | ((rdev >> 12) & ~0xff & 0xfffff)]
}
