import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Logout extends PivotCommand {
  static summary = 'Log out from a registry'

  static description = "Removes the credentials `pivot login` kept for SERVER (Docker Hub when none is given). Docker's own config is left alone."

  static examples = ['<%= config.bin %> logout localhost:5000']

  static args = {
    server: Args.string({description: 'registry (host[:port]); default: Docker Hub', required: false}),
  }

  async run(): Promise<void> {
    const {args} = await this.parse(Logout)
    const {logout} = await import('../src/cli/login')
    const {server, removed} = await logout(args.server)
    process.stdout.write(removed ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`)
  }
}
