import type {Hook} from '@oclif/core'
import {ARITY} from './arity'

/**
 * oclif's `command_not_found` hook. With topicSeparator ' ', oclif reads `pivot images x` as the
 * command `images:x` (a command without arguments may head a topic), and says "command images:x
 * not found" (exit 2). When the first word is a command, this runs it with the rest as its
 * arguments, so its argument count is checked as docker checks it (PivotCommand.init: exit 1).
 * Any other unknown command keeps oclif's error.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const [first, ...rest] = options.id.split(':')
  if (ARITY[first] !== undefined && options.config.findCommand(first)) {
    return options.config.runCommand(first, [...rest, ...(options.argv ?? [])])
  }
  const {Errors} = await import('@oclif/core')
  throw new Errors.CLIError(`command ${options.id} not found`)
}

export default hook
