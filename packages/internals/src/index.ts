// What several packages need, once. Private: each published package maps it to these
// sources in its tsconfig.json and bundles it (tsup `noExternal`), types included, so no
// published package.json or built file names it.
export {
  ERROR_CODES,
  type ErrorCode,
  hasCode,
  InvalidOptionError,
  isSwitchyardError,
  SwitchyardError,
  show,
} from './errors/index.js';
export {
  boolAt,
  functionAt,
  intAt,
  isObject,
  knownKeys,
  objectAt,
  oneOf,
  optionPath,
  optionsAt,
  stringAt,
  timeAt,
} from './options/index.js';
export { argOf, argsOf, asciiLower, cookieOf, originalUrlOf, pathOf, schemeOf } from './request/index.js';
export { parseNginxTime, type TimeUnit } from './time/index.js';
