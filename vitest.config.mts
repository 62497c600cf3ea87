import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

// The pure tiers' temporary folder, one per run and tier; test/tmpGuard.ts fails the run if a
// test leaves anything in it.
const scratch = (tier: string) => ({
  env: { TMPDIR: join(tmpdir(), `ntp-pool-${tier}-${process.pid}`) },
  globalSetup: ["test/tmpGuard.ts"],
});

// Four tiers (docs/decisions.md#test-tiers), the lab's in two projects. The real-tool and lab tiers need root; their global
// setup installs the host packages and builds the cached images they lack (announced), and
// they fail with a clear message instead of skipping when something is still missing, so CI
// can never pass with a tier silently left out.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], ...scratch("unit") } },
      {
        test: {
          name: "mocks",
          include: ["test/mocks/**/*.test.ts"],
          ...scratch("mocks"),
          setupFiles: ["test/mocks/setup.ts"],
        },
      },
      {
        test: {
          name: "real",
          include: ["test/real/**/*.test.ts"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "lab",
          include: ["test/lab/**/*.test.ts"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      // The lab's long scenarios (docs/testing.md#quick-and-long-lab-scenarios): minutes of
      // their own beyond a boot — attacks, interrupts at every step, a soak, several
      // members, wrong upstreams, wide-area paths. Same tier (root, one file at a time), in its
      // own project so that `--project lab` is the quick check; `npm test` runs both.
      {
        test: {
          name: "lab-long",
          include: ["test/lab-long/**/*.test.ts"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
