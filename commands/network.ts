import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Network extends PivotCommand {
  static summary = 'Manage container networks'
  static description = `create NAME [--subnet CIDR]   a bridge network of its own; its containers (run --net NAME) reach each
                               other by name and --network-alias; the subnet must not overlap a host route
ls                             the networks: bridge (pivot0, the default bridge), host, none, and yours
inspect NAME...                a network's subnet, gateway, bridge and containers, as JSON
rm NAME...                     remove networks no running container uses
prune                          remove every network no container uses
Networks are the host's, not the cache's (like the bridges they are): /run/pivot/network.`

  static examples = [
    '<%= config.bin %> network create --subnet 10.210.0.0/24 app',
    '<%= config.bin %> run -d --net app --name db IMG',
    '<%= config.bin %> network rm app',
  ]
  static strict = false
  static args = {
    action: Args.string({description: 'create, ls, inspect, rm or prune'}),
    name: Args.string({description: 'network name (several for inspect and rm)'}),
  }

  static flags = {
    subnet: Flags.string({description: 'create: the IPv4 subnet in CIDR form [default: a free /24 of $PIVOT_NETWORK_POOL, else 10.200.0.0/16]'}),
    quiet: Flags.boolean({char: 'q', description: 'ls: only the ids'}),
    force: Flags.boolean({char: 'f', description: 'prune: do not ask (pivot never asks)'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Network)
    const [action, ...names] = argv as string[]
    if (action === undefined) return this.showGroupHelp()
    const {checkSubcommand} = await import('../src/cli/command-grammar')
    checkSubcommand('network', action)
    const nets = await import('../src/network/networks')
    const {checkArgCount} = await import('../src/cli/arity')
    checkArgCount(`network ${({list: 'ls', remove: 'rm'} as Record<string, string>)[action] ?? action}`, names.length)
    switch (action) {
      case 'create': {
        const rec = await nets.createNetwork(names[0], flags.subnet)
        process.stdout.write(rec.id + '\n')
        return
      }
      case 'ls':
      case 'list': {
        const rows = nets.networkRows()
        if (flags.quiet) {
          process.stdout.write(rows.map(r => r.id.slice(0, 12) + '\n').join(''))
          return
        }
        const table = [['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], ...rows.map(r => [r.id.slice(0, 12), r.name, r.driver, 'local', r.subnet ?? ''])]
        const widths = table[0].map((_, i) => Math.max(...table.map(row => row[i].length)))
        process.stdout.write(
          table
            .map(
              row =>
                row
                  .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] + 3)))
                  .join('')
                  .trimEnd() + '\n',
            )
            .join(''),
        )
        return
      }
      case 'inspect': {
        const out = []
        for (const name of names) {
          const rec = nets.findNetwork(name)
          const members = await nets.networkMembers(rec)
          out.push({
            Name: rec.name,
            Id: rec.id,
            Created: rec.created,
            Driver: 'bridge',
            IPAM: {Config: [{Subnet: rec.subnet, Gateway: rec.gateway}]},
            Containers: Object.fromEntries(
              members.map(m => [m.container, {IPv4Address: `${m.ip}/${rec.subnet.split('/')[1]}`, Names: m.names, Ports: m.ports}]),
            ),
            Options: {'com.docker.network.bridge.name': rec.bridge},
          })
        }
        process.stdout.write(JSON.stringify(out, null, 4) + '\n')
        return
      }
      case 'rm':
      case 'remove': {
        const {eachContainer} = await import('../src/cli/each-container')
        await eachContainer(names, async name => {
          await nets.removeNetwork(name)
          process.stdout.write(name + '\n')
        })
        return
      }
      case 'prune': {
        const removed = await nets.pruneNetworks()
        if (removed.length > 0) process.stdout.write('Deleted Networks:\n' + removed.map(n => n + '\n').join(''))
        return
      }
    }
  }
}
