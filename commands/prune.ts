import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Prune extends PivotCommand {
  static summary = 'Free the disk space nothing uses any more'
  static description = `Removes, in order: containers that are not running (and leftover cgroups), Docker containers left by killed flat pulls (when a daemon answers), names that point at no image (or a damaged one), damaged image records, images no name references, layers no image, build-cache record or container uses, stale short links under l/, staging leftovers of dead processes under tmp/, and lock files nobody holds under locks/.

The build cache (build-cache/, one record per built step): records no build can use any more go (damaged ones, those that list a layer the cache no longer has, temp files of dead writers); the others are kept with their layers, so a rebuild after \`rmi\` is still cached. With -a every record goes (as docker's \`builder prune -a\`): the next build runs each step again, and the layers only the records kept are freed; layers images use stay.

Layers and images that a running pull, import, build or export has pinned (its lease under leases/) are kept; a later prune takes them if they are still unused. Prune and every command that reads layers agree through one lock (see docs/DESIGN.md), so nothing a command has found in the cache is deleted under it.

Reports what it removed and the bytes reclaimed (--json: {containers, exportContainers, names, damaged, images, layers, blobs, links, tmp, locks, buildCache, kept, reclaimedBytes, errors}). The exit status is non-zero when something could not be removed.`

  static examples = ['<%= config.bin %> rmi ubuntu && <%= config.bin %> prune', '<%= config.bin %> prune --json']

  static enableJsonFlag = true

  static flags = {
    all: Flags.boolean({char: 'a', description: 'also remove every build-cache record (the next build runs every step again)'}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Prune)
    const [{pruneCache}, {pruneContainers}, {pruneBuildCache}] = await Promise.all([
      import('../src/images/prune-cache'),
      import('../src/runtime/prune-containers'),
      import('../src/build/build-cache-layers'),
    ])
    // The build cache's records are pruned under the GC lock, where prune asks which layers they pin.
    let buildCache: string[] = []
    const swept = await pruneCache(this.openStore(flags['cache-dir']), {
      pruneContainers: store => pruneContainers(store),
      buildCacheLayers: store => {
        const pruned = pruneBuildCache(store, flags.all)
        buildCache = pruned.removed
        return pruned.layers
      },
    })
    const report = {...swept, buildCache}
    if (report.errors.length > 0) process.exitCode = 125
    if (this.jsonEnabled()) return report
    for (const message of report.errors) process.stderr.write(`pivot: ${message}\n`)
    const {formatSize, shortId} = await import('../src/common/format')
    const out: string[] = []
    for (const id of report.containers) out.push(`Deleted container: ${id}`)
    for (const id of report.exportContainers) out.push(`Deleted export container: ${id.slice(0, 12)}`)
    for (const name of report.names) out.push(`Deleted dangling name: ${name}`)
    for (const id of report.damaged) out.push(`Deleted damaged image record: ${id}`)
    for (const id of report.images) out.push(`Deleted image: ${id}`)
    for (const digest of report.layers) out.push(`Deleted layer: ${digest}`)
    for (const digest of report.blobs) out.push(`Deleted compressed blob of layer: ${digest}`)
    for (const link of report.links) out.push(`Deleted stale link: l/${link}`)
    for (const entry of report.tmp) out.push(`Deleted leftover: tmp/${entry}`)
    for (const entry of report.locks) out.push(`Deleted idle lock: locks/${entry}`)
    for (const file of report.buildCache) out.push(`Deleted build cache record: build-cache/${file}`)
    const kept = report.kept.layers.length + report.kept.images.length
    if (kept > 0) {
      const what = [...report.kept.images.map(id => `image ${shortId(id)}`), ...report.kept.layers.map(d => `layer ${shortId(d)}`)]
      out.push(`Kept (in use by running pivot process ${report.kept.pids.join(', ')}): ${what.join(', ')}`)
    }
    out.push(`Total reclaimed space: ${formatSize(report.reclaimedBytes)}`)
    process.stdout.write(out.join('\n') + '\n')
    return report
  }
}
