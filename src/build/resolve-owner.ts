import type {LayerView} from '../unpack/layer-view'

export interface Owner {
  uid: number
  gid: number
}

/**
 * `user[:group]` to numbers, names looked up in the image's own /etc/passwd and /etc/group (never
 * the host's). As docker's `COPY --chown`: a bare uid gets the same number as gid; a bare name
 * gets its primary group from /etc/passwd. Throws a message (the caller adds where) when a name
 * is not in the image.
 */
export function resolveOwner(owner: string, view: LayerView, fail: (message: string) => never): Owner {
  const [user, group] = owner.split(':')
  let uid: number
  let gid: number | undefined
  if (/^\d+$/.test(user)) {
    uid = toId(user, fail)
  } else {
    const entry = lookup(view, '/etc/passwd', user)
    if (!entry) return fail(`no user ${JSON.stringify(user)} in the image's /etc/passwd`)
    uid = toId(entry[2], fail)
    gid = toId(entry[3], fail)
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = toId(group, fail)
    else {
      const entry = lookup(view, '/etc/group', group)
      if (!entry) return fail(`no group ${JSON.stringify(group)} in the image's /etc/group`)
      gid = toId(entry[2], fail)
    }
  }
  return {uid, gid: gid ?? uid}
}

function lookup(view: LayerView, file: string, name: string): string[] | undefined {
  const text = view.readFile(file)?.toString('utf8')
  if (text === undefined) return undefined
  for (const line of text.split('\n')) {
    const fields = line.split(':')
    if (fields[0] === name && fields.length >= 4) return fields
  }
  return undefined
}

function toId(text: string, fail: (message: string) => never): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 0xfffffffe) return fail(`${JSON.stringify(text)} is not a valid id`)
  return n
}
