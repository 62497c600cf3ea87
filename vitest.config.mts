import { defineConfig } from "vitest/config";

// Four tiers (DESIGN.md "Test tiers"). The real-tool and lab tiers need root and
// Debian packages; they fail with a clear message instead of skipping when those
// are missing, so CI can never pass with a tier silently left out.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        test: {
          name: "mocks",
          include: ["test/mocks/**/*.test.ts"],
          setupFiles: ["test/mocks/setup.ts"],
        },
      },
      {
        test: {
          name: "real",
          include: ["test/real/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "lab",
          include: ["test/lab/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
