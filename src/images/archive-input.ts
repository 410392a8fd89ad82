import * as fs from 'node:fs'
import {ImageError} from './image-error'

export type ArchiveInput =
  {kind: 'stream'; stream: NodeJS.ReadableStream; shown: string; file: string} | {kind: 'directory'; path: string; shown: string; file: string}

/**
 * What `pivot import FILE|-` and `pivot load [-i FILE|DIR|-]` read: the file (opened here, before
 * any staging, so a missing file fails with the cache untouched), a directory when the command
 * takes one (load: an OCI layout), or standard input, which must not be a terminal.
 */
export function openArchiveInput(
  file: string | undefined,
  stdin: NodeJS.ReadableStream & {isTTY?: boolean},
  options: {directories: boolean; ttyHint: string; exitCode?: number; command: string},
): ArchiveInput {
  const exitCode = options.exitCode
  if (file === undefined || file === '-') {
    if (stdin.isTTY) throw new ImageError('IMAGE_NO_INPUT', `standard input is a terminal: ${options.ttyHint}`, {exitCode})
    return {kind: 'stream', stream: stdin, shown: 'standard input', file: '-'}
  }
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ImageError('IMAGE_FILE_NOT_FOUND', `no such file: ${file}`, {exitCode})
    throw new ImageError('IMAGE_FILE_NOT_FOUND', `cannot open ${file}: ${code ?? (error as Error).message}`, {exitCode})
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd)
    if (options.directories) return {kind: 'directory', path: file, shown: file, file}
    throw new ImageError('IMAGE_BAD_ARCHIVE', `cannot ${options.command} ${file}: it is a directory, not a tar archive`, {exitCode})
  }
  return {kind: 'stream', stream: fs.createReadStream('', {fd}), shown: file, file}
}
