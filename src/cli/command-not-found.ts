import type {Hook} from '@oclif/core'
import {ARITY} from './arity'
import {noCommandError} from './command-grammar'

/**
 * oclif's `command_not_found` hook. With topicSeparator ' ', oclif reads `pivot images x` as the
 * command `images:x` (a command without arguments may head a topic), and says "command images:x
 * not found" (exit 2). When the first word is a command, this runs it with the rest as its
 * arguments, so its argument count is checked as docker checks it (PivotCommand.init: exit 1).
 * Anything else names no command (`pivot bogus`, `pivot image bogus`, `pivot --bogus`): docker's
 * error for it (command-grammar.ts), as bin/pivot's lean path gives it without oclif.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const [first, ...rest] = options.id.split(':')
  if (ARITY[first] !== undefined && options.config.findCommand(first)) {
    return options.config.runCommand(first, [...rest, ...(options.argv ?? [])])
  }
  // Not thrown: oclif would print it in its own style and exit 2.
  const error = noCommandError([first, ...rest, ...(options.argv ?? [])])
  process.stderr.write(`pivot: ${error.message}\n`)
  process.exitCode = error.exitCode
  return undefined
}

export default hook
