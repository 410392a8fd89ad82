import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Login extends PivotCommand {
  static summary = 'Log in to a registry'

  static description = [
    "Checks USERNAME and the password against SERVER (Docker Hub when none is given: Basic or token authentication, as the registry asks), then keeps them for `pivot pull` in $PIVOT_CONFIG_DIR/config.json (default ~/.config/pivot/config.json, mode 0600, the same `auths` shape as docker's config).",
    'Credentials docker already has (~/.docker/config.json auths, credsStore, credHelpers) are used by pull without a login here.',
  ].join('\n\n')

  static examples = [
    'echo "$PASS" | <%= config.bin %> login -u ci --password-stdin registry.example.com',
    '<%= config.bin %> login -u me -p secret localhost:5000',
  ]

  static args = {
    server: Args.string({description: 'registry (host[:port]); default: Docker Hub', required: false}),
  }

  static flags = {
    username: Flags.string({char: 'u', description: 'user name'}),
    password: Flags.string({char: 'p', description: 'password (visible in the process list: prefer --password-stdin)'}),
    'password-stdin': Flags.boolean({description: 'read the password from stdin'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Login)
    const {login} = await import('../src/cli/login')
    if (flags.password !== undefined && !flags['password-stdin'])
      process.stderr.write('pivot: warning: a password on the command line is visible to other users: use --password-stdin\n')
    await login(args.server, {username: flags.username, password: flags.password, passwordStdin: flags['password-stdin']})
    process.stdout.write('Login Succeeded\n')
  }
}
