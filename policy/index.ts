/**
 * CrossGuard pack: `pulumi preview --policy-pack policy` (the PR workflow does this).
 * Dependencies come from the repository root's node_modules (Node resolution walks up from
 * policy/), so run `npm ci` at the root first. policy/package.json exists because
 * @pulumi/policy reads the pack's version from `${process.cwd()}/package.json`
 * (node_modules/@pulumi/policy/policy.js) and the engine starts the pack in this folder.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("ntp-pool-rules", { policies });
