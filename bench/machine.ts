import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import type { MachineInfo } from "./results";
import { versions } from "./tools";

/** The first `model name` of /proc/cpuinfo. */
export function cpuModel(cpuinfo: string): string {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
}

export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

export function machineInfo(tools: string | undefined): MachineInfo {
  const v = versions(tools);
  return {
    nproc: Number(spawnSync("nproc", { encoding: "utf8" }).stdout.trim()) || cpus().length,
    cpu: cpuModel(readFileSync("/proc/cpuinfo", "utf8")),
    kernel: spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout.trim(),
    date: new Date().toISOString(),
    ntpsec: v.ntpsec,
    chrony: v.chrony,
    node: process.version,
    loadStart: loadAverage(),
    loadEnd: null,
  };
}
