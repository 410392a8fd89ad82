import {Args, Flags} from '@oclif/core'
import {RuntimeError} from '../src/runtime/runtime-error'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Volume extends PivotCommand {
  static summary = 'Manage named volumes'
  static description = `Named volumes live in the cache (volumes/<name>/_data) and outlive every container: \`pivot run -v
NAME:/path\` makes one when it is new and fills it from the image's content at /path when it is
empty, as docker does. Subcommands, with docker's output and exit statuses:
  create [NAME]      make a volume (a random name without NAME) and print its name
  ls                 list volumes (-q: names only)
  inspect NAME...    print each volume as JSON (docker's shape)
  rm NAME...         remove volumes; one that a container (running or not) names is refused
  prune              remove unused anonymous volumes (-a: every unused volume); -f is accepted`

  static examples = [
    '<%= config.bin %> volume create data',
    '<%= config.bin %> run -v data:/var/lib/app IMAGE',
    '<%= config.bin %> volume ls',
    '<%= config.bin %> volume rm data',
  ]

  static enableJsonFlag = true
  static strict = false
  static args = {
    subcommand: Args.string({description: 'create, ls, inspect, rm or prune'}),
  }

  static flags = {
    quiet: Flags.boolean({char: 'q', description: 'ls: names only'}),
    all: Flags.boolean({char: 'a', description: 'prune: every unused volume, not only anonymous ones'}),
    force: Flags.boolean({char: 'f', description: 'prune: no prompt (pivot never prompts); rm: a missing volume is no error'}),
    label: Flags.string({description: 'create: a label KEY[=VALUE]'}),
  }

  async run(): Promise<unknown> {
    const {argv, flags} = await this.parse(Volume)
    const [sub, ...names] = argv as string[]
    if (sub === undefined) return this.showGroupHelp()
    const {checkSubcommand} = await import('../src/cli/command-grammar')
    checkSubcommand('volume', sub)
    const store = this.openStore(flags['cache-dir'])
    const v = await import('../src/runtime/mounts/volumes')
    const {withGcExclusive} = await import('../src/store/gc-lock')
    const json = this.jsonEnabled()
    const {checkArgCount} = await import('../src/cli/arity')
    checkArgCount(`volume ${({list: 'ls', remove: 'rm'} as Record<string, string>)[sub] ?? sub}`, names.length)
    switch (sub) {
      case 'create': {
        const labels = Object.fromEntries(
          (flags.label === undefined ? [] : [flags.label]).map(l => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])),
        )
        let info
        try {
          ;({info} = v.ensureVolume(store, names[0], Object.keys(labels).length > 0 ? labels : null))
        } catch (error) {
          // docker volume create's status for a bad name is 1 (run's is 125).
          if (error instanceof RuntimeError) throw new RuntimeError(error.code, error.message, {exitCode: 1})
          throw error
        }
        if (!json) process.stdout.write(info.Name + '\n')
        return info
      }
      case 'ls':
      case 'list': {
        const all = v.listVolumes(store)
        if (json) return all
        if (flags.quiet) process.stdout.write(all.map(x => x.Name + '\n').join(''))
        else {
          // docker's tabwriter here pads the driver column by four.
          const width = Math.max(6, ...all.map(x => x.Driver.length)) + 4
          process.stdout.write(['DRIVER'.padEnd(width) + 'VOLUME NAME', ...all.map(x => x.Driver.padEnd(width) + x.Name)].join('\n') + '\n')
        }
        return all
      }
      case 'inspect': {
        const found = []
        const missing = []
        for (const name of names) {
          const info = v.readVolume(store, name)
          if (info) found.push(info)
          else missing.push(name)
        }
        if (!json) process.stdout.write(JSON.stringify(found, null, 4) + '\n')
        for (const name of missing) process.stderr.write(`pivot: get ${name}: no such volume\n`)
        if (missing.length > 0) process.exitCode = 1
        return found
      }
      case 'rm':
      case 'remove': {
        const removed: string[] = []
        // Exclusive: a run holds the shared side from the volume's lookup until its record names it.
        await withGcExclusive(store, () => {
          for (const name of names) {
            try {
              v.removeVolume(store, name, flags.force)
              removed.push(name)
              if (!json) process.stdout.write(name + '\n')
            } catch (error) {
              if (!(error instanceof RuntimeError)) throw error
              process.stderr.write(`pivot: ${error.message}\n`)
              process.exitCode = 1
            }
          }
        })
        return removed
      }
      case 'prune': {
        const result = await withGcExclusive(store, () => v.pruneVolumes(store, flags.all))
        if (!json) {
          const {formatSize} = await import('../src/common/format')
          const list = result.removed.length > 0 ? `Deleted Volumes:\n${result.removed.join('\n')}\n\n` : ''
          process.stdout.write(`${list}Total reclaimed space: ${formatSize(result.bytes)}\n`)
        }
        return result
      }
    }
  }
}
