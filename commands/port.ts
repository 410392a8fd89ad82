import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Port extends PivotCommand {
  static summary = "List a container's published ports"
  static description = `Prints each published port as docker does (80/tcp -> 0.0.0.0:8080), or with PORT[/PROTO] only the host
addresses of that container port. Ports are published with run -p or -P on --net bridge or a user network.`

  static examples = ['<%= config.bin %> port web', '<%= config.bin %> port web 80/tcp']
  static args = {
    container: Args.string({description: 'container name, id or unique id prefix', required: true}),
    port: Args.string({description: 'a container port, PORT[/tcp|udp]'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Port)
    const store = this.openStore(flags['cache-dir'])
    const {resolveContainer, containerStatus} = await import('../src/runtime/lifecycle/containers')
    const {formatBinding} = await import('../src/network/ports')
    const {RuntimeError} = await import('../src/runtime/runtime-error')
    const id = resolveContainer(store, args.container)
    const status = containerStatus(store, id)
    // Published ports exist only while the container runs (its rules go with it).
    const ports = status?.state === 'running' ? (status.record.network?.ports ?? []) : []
    if (args.port === undefined) {
      process.stdout.write(ports.map(p => formatBinding(p) + '\n').join(''))
      return
    }
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(args.port)
    if (!m) throw new RuntimeError('CONTAINER_BAD_FLAG', `invalid port ${JSON.stringify(args.port)}: use PORT[/tcp|udp]`)
    const proto = m[2] ?? 'tcp'
    const hits = ports.filter(p => p.containerPort === Number(m[1]) && p.proto === proto)
    if (hits.length === 0) throw new RuntimeError('CONTAINER_NOT_FOUND', `no public port '${m[1]}/${proto}' published for ${args.container}`, {exitCode: 1})
    process.stdout.write(hits.map(p => `${p.hostIp || '0.0.0.0'}:${p.hostPort}\n`).join(''))
  }
}
