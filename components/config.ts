import * as pulumi from "@pulumi/pulumi";
import { ConfigError, type FleetConfig, parseFleetConfig, type SettingName } from "./validate";

export type { FleetConfig } from "./validate";

/** The project's config namespace (`ntp-pool:members`, ...), from `Pulumi.yaml`'s name. */
const CONFIG_NAMESPACE = "ntp-pool";

/**
 * Settings read as plain text; every other one is JSON (lists, mappings, numbers, booleans).
 * A name here that components/validate.ts does not declare fails to compile.
 */
const TEXT_SETTINGS: ReadonlySet<string> = new Set<SettingName>(["projectName"]);

/**
 * Reads and validates the stack's `ntp-pool:*` settings before any resource exists.
 * A bad setting ends the program with `pulumi.RunError`: the CLI shows the message
 * without a stack trace, and nothing has been registered.
 */
export function loadFleetConfig(): FleetConfig {
  const raw = readNamespace();
  try {
    const { config, warnings } = parseFleetConfig(raw);
    for (const warning of warnings) {
      pulumi.log.warn(warning);
    }
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new pulumi.RunError(err.message);
    }
    throw err;
  }
}

/** Every `ntp-pool:*` key of the stack, unknown ones included so that typos are reported. */
function readNamespace(): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(pulumi.runtime.allConfig())) {
    // The engine hands keys over as "ns:key"; older SDKs used "ns:config:key".
    const parts = key.split(":");
    const setting = parts[parts.length - 1] ?? "";
    if (parts[0] !== CONFIG_NAMESPACE) continue;
    if (TEXT_SETTINGS.has(setting)) {
      raw[setting] = text;
      continue;
    }
    try {
      raw[setting] = JSON.parse(text);
    } catch {
      // `pulumi config set verifyTimeoutSeconds soon` stores the bare text "soon".
      raw[setting] = text;
    }
  }
  return raw;
}
