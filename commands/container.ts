import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Container extends PivotCommand {
  static summary = 'Manage containers (docker container ls, rm, prune, ...)'
  static description = `docker's management command: pivot container ls|ps|list, run, exec, logs, start, stop, restart,
kill, rm, wait, inspect, top, stats, pause, unpause and rename are the commands of those names;
pivot container prune [-f] removes every container that is not running (asking first without -f).`

  static examples = ['<%= config.bin %> container ls -a', '<%= config.bin %> container prune -f']
  static strict = false
  static args = {command: Args.string({description: 'ls, prune, rm, inspect, ...'})}

  async run(): Promise<void> {
    const [sub, ...rest] = this.argv
    if (sub === undefined) return this.showGroupHelp()
    if (sub === 'prune') return this.prune(rest)
    const {CONTAINER_COMMANDS, noCommandError} = await import('../src/cli/command-grammar')
    // An unknown word, or a flag before the sub-command (container has none of its own).
    if (!Object.hasOwn(CONTAINER_COMMANDS, sub)) throw noCommandError(['container', ...this.argv])
    const id = CONTAINER_COMMANDS[sub]
    // Its argument count, checked here to name it as typed (`"pivot container logs" requires ...`).
    const {ARITY, checkCommandArgs} = await import('../src/cli/arity')
    const command = await this.config.findCommand(id)?.load()
    if (command !== undefined && ARITY[id] !== undefined) checkCommandArgs(`container ${sub}`, ARITY[id], command as never, rest)
    await this.config.runCommand(id, rest)
  }

  private async prune(argv: string[]): Promise<void> {
    const force = argv.includes('-f') || argv.includes('--force')
    const at = argv.findIndex(a => a === '--cache-dir')
    const cacheDir = at === -1 ? argv.find(a => a.startsWith('--cache-dir='))?.slice('--cache-dir='.length) : argv[at + 1]
    const unknown = argv.filter((a, i) => a.startsWith('-') && !['-f', '--force', '--cache-dir'].includes(a) && !a.startsWith('--cache-dir=') && i !== at + 1)
    if (unknown.length > 0) {
      const {RuntimeError} = await import('../src/runtime/runtime-error')
      throw new RuntimeError('CONTAINER_BAD_FLAG', `unknown flag: ${unknown[0]}`, {exitCode: 125})
    }
    const {checkArgCount} = await import('../src/cli/arity')
    checkArgCount('container prune', argv.filter((a, i) => !a.startsWith('-') && !(at !== -1 && i === at + 1)).length)
    if (!force) {
      process.stdout.write('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ')
      const answer = await new Promise<string>(resolve => {
        let text = ''
        process.stdin.setEncoding('utf8')
        process.stdin.on('data', (c: string) => {
          text += c
          if (text.includes('\n')) resolve(text)
        })
        process.stdin.on('end', () => resolve(text))
      })
      process.stdin.pause()
      if (!/^\s*y(es)?\s*$/i.test(answer.split('\n')[0])) return
    }
    const {pruneContainers, humanSize} = await import('../src/runtime/lifecycle/prune')
    const {ids, bytes} = await pruneContainers(this.openStore(cacheDir))
    if (ids.length > 0) process.stdout.write(`Deleted Containers:\n${ids.join('\n')}\n\n`)
    process.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`)
  }
}
