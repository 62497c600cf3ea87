/**
 * CrossGuard pack: `pulumi preview --policy-pack policy` (the PR workflow does this).
 * Dependencies come from the repository root's node_modules (@pulumi/policy 1.21.0 is in the
 * root package.json), so run `npm ci` at the root first; policy/ has no package.json.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("ntp-pool-rules", { policies });
