import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Check extends PivotCommand {
  static summary = 'Verify the cache, and repair it with --repair'
  static description = `Checks every image record (readable, and its content matching its id), every name, every layer (its record, and its files against the manifest recorded when it was unpacked: type, mode, owner, size, mtime, link target; file contents are not re-hashed), the short links under l/, build-cache records, container records, lock files and staging leftovers.

Without --repair it only reports, like \`podman system check\`. With --repair it removes what is damaged (records, names, stray entries, leftovers, damaged layers) and recreates wrong or missing links. It never fetches anything: an image that lost a layer keeps its names, and the report gives the command that brings it back (for a pulled image, \`pivot pull NAME\` fetches exactly the missing layers).

Exit status: 0 when the cache is sound (nothing found, or everything found repaired), 1 when damage remains (found without --repair, an image that needs to be pulled, imported or built again, a repair that failed), 125 when the check itself could not run.

Leftovers of processes that are gone (under tmp/, temp files) are listed, and removed by --repair, but are not damage: prune collects them too.

--json prints the report: {root, repair, layers: {checked, unverified}, images, findings: [{kind, path, problem, action, leftover?}], lost: [{id, names, layers, restore}], errors, clean}.`

  static examples = ['<%= config.bin %> check', '<%= config.bin %> check --repair', '<%= config.bin %> check --json']

  static enableJsonFlag = true

  static flags = {
    repair: Flags.boolean({description: 'remove damaged entries and recreate wrong links (never fetches anything)'}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Check)
    const {checkCache} = await import('../src/images/check-cache')
    const report = await checkCache(this.openStore(flags['cache-dir']), {repair: flags.repair})
    if (!report.clean) process.exitCode = 1
    if (this.jsonEnabled()) return report
    const {displayName} = await import('../src/images/image-name')
    const {shortId} = await import('../src/common/format')
    const out: string[] = []
    const verbs = {none: 'Found', removed: 'Removed', relinked: 'Relinked', failed: 'Could not repair'}
    for (const f of report.findings)
      out.push(`${verbs[f.action]} ${f.path}: ${f.problem}${f.leftover && f.action === 'none' ? ' (garbage, not damage: prune removes it)' : ''}`)
    for (const lost of report.lost) {
      const who = lost.names.length > 0 ? lost.names.map(n => displayName(n)).join(', ') : shortId(lost.id)
      out.push(`Image ${who} is missing ${lost.layers.length === 1 ? 'a layer' : `${lost.layers.length} layers`}: run ${lost.restore}`)
    }
    for (const message of report.errors) process.stderr.write(`pivot: ${message}\n`)
    const unverified = report.layers.unverified > 0 ? ` (${report.layers.unverified} more by structure only: committed before manifests)` : ''
    const damage = report.findings.filter(f => !f.leftover).length + report.lost.length
    const summary =
      damage === 0
        ? 'no damage found'
        : report.clean
          ? `${damage} ${damage === 1 ? 'problem' : 'problems'} found and repaired`
          : report.repair
            ? 'damage remains (see above)'
            : `${damage} ${damage === 1 ? 'problem' : 'problems'} found: run pivot check --repair`
    out.push(
      `Checked ${report.images} ${report.images === 1 ? 'image' : 'images'} and ${report.layers.checked} ${report.layers.checked === 1 ? 'layer' : 'layers'}${unverified}: ${summary}`,
    )
    process.stdout.write(out.join('\n') + '\n')
    return report
  }
}
