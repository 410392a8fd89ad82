import {PivotCommand} from '../src/cli/pivot-command'

export default class Version extends PivotCommand {
  static summary = 'Show the pivot version information'
  static description = `What \`pivot --version\` (or -v) prints: pivot's version, the platform and Node's version. docker version also asks its daemon for a Server section; pivot has no daemon.`

  static examples = ['<%= config.bin %> version']

  async run(): Promise<void> {
    await this.parse(Version)
    process.stdout.write(this.config.userAgent + '\n')
  }
}
