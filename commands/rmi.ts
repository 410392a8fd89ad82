import {Args, Flags} from '@oclif/core'
import {isPivotError} from '../src/errors'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Rmi extends PivotCommand {
  static summary = 'Remove images from the cache'
  static description = `IMAGE is a name (ubuntu means docker.io/library/ubuntu:latest) or an image id (a unique prefix of at least 4 hex digits).

A name removes that name, and the image once no name points at it. An id removes the image and its name; an image with several names needs --force to be removed by id. An image a running container uses is kept unless --force.

The layers stay on disk until \`pivot prune\` frees those no image uses any more.

Each IMAGE is handled on its own: an error for one (printed as one line) does not stop the others, and the exit status is non-zero if any failed.`

  static examples = ['<%= config.bin %> rmi ubuntu', '<%= config.bin %> rmi mybase:1 mybase:2', '<%= config.bin %> rmi --force 3f2a9c01b7e4']

  static strict = false
  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'image name or id (one or more)', required: true}),
  }

  static flags = {
    force: Flags.boolean({char: 'f', description: 'remove an image with several names by id, or one a running container uses'}),
  }

  async run(): Promise<unknown> {
    const {argv, flags} = await this.parse(Rmi)
    const {removeImage} = await import('../src/images/remove-image')
    const {displayName} = await import('../src/images/image-name')
    const store = this.openStore(flags['cache-dir'])
    const removed = []
    const errors: Array<{image: string; code: string; message: string}> = []
    let exitCode = 0
    for (const arg of argv as string[]) {
      try {
        const result = removeImage(store, arg, {force: flags.force})
        removed.push(result)
        if (!this.jsonEnabled()) {
          for (const name of result.untagged) process.stdout.write(`Untagged: ${displayName(name)}\n`)
          if (result.deleted) process.stdout.write(`Deleted: ${result.deleted}\n`)
        }
      } catch (error) {
        if (!isPivotError(error)) throw error
        errors.push({image: arg, code: error.code, message: error.message})
        exitCode = exitCode || error.exitCode
        if (!this.jsonEnabled()) process.stderr.write(`pivot: ${error.message}\n`)
      }
    }
    if (exitCode) process.exitCode = exitCode
    return {removed, errors}
  }
}
