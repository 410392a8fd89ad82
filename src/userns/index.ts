export * from './id-maps'
export * from './spawn-in-userns'
export {UsernsError} from './userns-error'
export * from './user-maps'
