/**
 * Server configuration: one table of options (config/options.ts) from which the type, the defaults,
 * the validation, the flags, the environment variables, the config-file keys and the help are derived;
 * the layers and their precedence (flag > environment > file > default) are in config/load.ts.
 * Validation happens at the edge, once; the rest of the server trusts a ServerConfig.
 */
export { parseDuration, parseSize, showDuration, showSize } from './config/kinds.js';
export {
  DEFAULT_CONFIG,
  DEFAULT_SIMPLEPUSH_PORTS,
  SERVER_OPTIONS,
  serverConfigSchema,
  type ConfigKey,
  type ConfigOption,
  type ServerConfig,
} from './config/options.js';
export {
  ConfigError,
  assemble,
  envName,
  flagDeclarations,
  layerFromEnv,
  layerFromFlags,
  layerFromToml,
  loadServerConfig,
  optionSpellings,
  readConfigFile,
  renderOptionsHelp,
  resolveConfig,
  resolveLayers,
  type ConfigLayer,
  type ConfigSource,
  type EffectiveConfig,
  type OptionSpelling,
} from './config/load.js';
export {
  effectiveRows,
  renderConfigTemplate,
  renderEffectiveConfig,
  writeConfigTemplate,
  type EffectiveRow,
} from './config/describe.js';
