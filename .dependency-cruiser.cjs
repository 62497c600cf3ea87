/**
 * The repository's import rules (issue 18), checked by `npm run lint` (`depcruise`).
 * test/unit/repo/import-rules.test.ts plants a violation of each rule in a scratch tree and runs
 * this configuration on it, so a rule that stops matching fails a test.
 */

/** The product: what `pulumi up` and the policy pack load, and the pool CLI a user runs. */
const PRODUCT = "^(index\\.ts$|components/|cloud-init/|verify/|pool/|policy/|ntp/)";

/**
 * The pure modules: renderers, validators, rule builders and parsers, which the unit tier
 * tests offline as plain functions. Pulumi must not be reachable from them, not even through
 * another module, or they would need the engine (or its mocks) to run.
 */
const PURE = [
  "^cloud-init/",
  "^ntp/",
  "^verify/",
  "^pool/",
  "^policy/rules\\.ts$",
  "^components/(defaults|firewallRules|preflightRules|registration|validate)\\.ts$",
  "^lab/(firewall|edgeRules|dropletFiles)\\.ts$",
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: the modules cannot be read, loaded or tested one at a time.",
      from: {},
      to: { circular: true },
    },
    {
      name: "product-not-lab",
      severity: "error",
      comment: "The product never depends on the lab, the benchmarks or the tests.",
      from: { path: PRODUCT },
      to: { path: "^(lab|bench|test)/" },
    },
    {
      name: "pure-no-pulumi",
      severity: "error",
      comment: "A renderer, validator or parser reaches a Pulumi package (directly or not).",
      from: { path: PURE },
      to: { path: "@pulumi/", reachable: true },
    },
  ],
  options: {
    // Packages are seen (pure-no-pulumi needs the edge to @pulumi/*) but not followed.
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(\\.lab-cache|\\.bench-cache)/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
