import * as pulumi from "@pulumi/pulumi";
import { afterEach, beforeEach } from "vitest";
import { resetRecorder, testMocks } from "../helpers/mocks";

// setMocks must run before any Pulumi resource module is imported by a test.
pulumi.runtime.setMocks(testMocks, "ntp-pool", "test", false, "organization");

beforeEach(() => resetRecorder());
afterEach(() => resetRecorder());
