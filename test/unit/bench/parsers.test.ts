import { describe, expect, it } from "vitest";
import { capacityVariants, parseLoadOutput, parseSsRcvbuf } from "../../../bench/capacity";
import {
  benchNtpConf,
  chronySynced,
  ntpsecSynced,
  parseChronyDropped,
  parseNtpqRateLimited,
  parseUdpSnmp,
  renderChronyConf,
  splitRvPeers,
} from "../../../bench/daemons";
import { readLabReport } from "../../../bench/labRuns";
import { cpuModel } from "../../../bench/machine";
import { parseEvalLine } from "../../../bench/program";
import { withoutTos } from "../../../bench/sync";
import { renderNtpConf } from "../../../cloud-init/ntpConf";

// Captured from real daemons on Debian 12 (NTPsec 1.2.2, chrony 4.3) inside the bench's namespaces.
const CHRONY_TRACKING =
  "Reference ID    : 0A4D000E (10.77.0.14)\nStratum         : 2\nRef time (UTC)  : Fri Nov 27 08:10:00 2026\nSystem time     : 0.000017159 seconds slow of NTP time\nLast offset     : +0.000004029 seconds\nRMS offset      : 0.000004029 seconds\nFrequency       : 2.930 ppm slow\nResidual freq   : +0.004 ppm\nSkew            : 40.851 ppm\nRoot delay      : 0.000046354 seconds\nRoot dispersion : 0.000161671 seconds\nUpdate interval : 1.4 seconds\nLeap status     : Normal\n";
const CHRONY_SOURCES =
  "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n===============================================================================\n^- 10.77.0.11                    1   6    17     3  +5996ns[+5996ns] +/-   18us\n^- 10.77.0.12                    1   6    17     3  +2956ns[+2956ns] +/-   18us\n^- 10.77.0.13                    1   6    17     3  +6547ns[+6547ns] +/-   65us\n^* 10.77.0.14                    1   6    17     3  +3751ns[+7780ns] +/-   24us\n";
const CHRONY_SERVERSTATS =
  "NTP packets received       : 0\nNTP packets dropped        : 0\nCommand packets received   : 133\nCommand packets dropped    : 0\nClient log records dropped : 0\nNTS-KE connections accepted: 0\nNTS-KE connections dropped : 0\nAuthenticated NTP packets  : 0\nInterleaved NTP packets    : 0\nNTP timestamps held        : 0\nNTP timestamp span         : 0\n";
const NTPQ_RV_PEERS =
  'associd=0 status=0014 leap_none, sync_unspec, 1 event, freq_mode,\nleap=00, stratum=2, precision=-24, rootdelay=0.021, rootdisp=937.608,\nrefid=10.77.0.12, reftime=eeb3b95b.065a0068 2026-11-27T08:10:03.024Z, tc=6,\npeer=17768, offset=0.007684, frequency=0.0, sys_jitter=0.049976,\nclk_jitter=0.002717, clock=eeb3b95d.091ffe7d 2026-11-27T08:10:05.035Z,\nprocessor="x86_64", system="Linux/6.18.44-fc-v782",\nversion="ntpd ntpsec-1.2.2", clk_wander=0.0, leapsec="2017-01-01T00:00Z",\nexpire="2027-05-26T08:09Z", mintc=0\n     remote           refid      st t when poll reach   delay   offset   jitter\n===============================================================================\n+10.77.0.11      .LOOP.           1 u    1   64    1   0.0660  -0.0238   0.0465\n*10.77.0.12      .LOOP.           1 u    -   64    1   0.0446  -0.0139   0.0343\n+10.77.0.13      .LOOP.           1 u    1   64    1   0.1324   0.0484   0.0277\n 10.77.0.14      .LOOP.           1 u    -   64    1   0.1722   0.0279   0.0233\n';
const NTPQ_SYSSTATS =
  "uptime:                     00:00:10\ncontrol requests:                 73\nsysstats reset:             00:00:10      00:00:10\npackets received:                 92            92        9.0p/s        9.0p/s\ncurrent version:                  18            18        2.0p/s        2.0p/s\nolder version:                     0             0                            \nNTPv1 total:                       0             0                            \nNTPv1 clients:                     0             0                            \nNTPv1 mode0:                       0             0                            \nNTPv1 symm act:                    0             0                            \nbad length or format:              0             0                            \nauthentication failed:             0             0                            \ndeclined:                          0             0                            \nrestricted:                        0             0                            \nrate limited:                      0             0                            \nKoD responses:                     0             0                            \nprocessed for time:               91            91        9.0p/s        9.0p/s\n";
const SS_UAMN =
  "State  Recv-Q Send-Q                    Local Address:Port Peer Address:PortProcess                                               \nUNCONN 0      0                             10.77.0.2:123       0.0.0.0:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f4096,w0,o0,bl0,d0)\nUNCONN 0      0                             127.0.0.1:123       0.0.0.0:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f4096,w0,o0,bl0,d0)\nUNCONN 0      0                               0.0.0.0:123       0.0.0.0:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f0,w0,o0,bl0,d0)   \nUNCONN 0      0      [fe80::b86d:a4ff:fee7:a9cd]%eth0:123          [::]:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f0,w0,o0,bl0,d0)   \nUNCONN 0      0                             [fd77::2]:123          [::]:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f0,w0,o0,bl0,d0)   \nUNCONN 0      0                                 [::1]:123          [::]:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f0,w0,o0,bl0,d0)   \nUNCONN 0      0                                  [::]:123          [::]:*   \n\t skmem:(r0,rb1048576,t0,tb212992,f0,w0,o0,bl0,d0)   \n";
const PROC_NET_SNMP =
  "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits\nIp: 2 64 215 0 0 0 0 0 215 215 0 0 0 0 0 0 0 0 0 215\nIcmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps\nIcmp: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\nTcp: 1 200 120000 -1 0 0 0 0 0 0 0 0 0 0 0\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\nUdp: 215 0 0 215 0 0 0 0 0\nUdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\nUdpLite: 0 0 0 0 0 0 0 0 0\n";

describe("ntpq parsing", () => {
  it("splits `ntpq -c rv -c peers` at the peer table and judges it synchronised", () => {
    const [rv, peers] = splitRvPeers(NTPQ_RV_PEERS);
    expect(rv).toMatch(/^associd=0/);
    expect(rv).not.toMatch(/remote/);
    expect(peers).toMatch(/^\s+remote\s+refid/);
    expect(ntpsecSynced(rv, peers)).toEqual({
      synced: true,
      detail: "leap 0, stratum 2, system peer true",
    });
  });

  it("is not synchronised with leap 11 / stratum 16 or without a `*` peer", () => {
    const [rv, peers] = splitRvPeers(NTPQ_RV_PEERS);
    const unsync = rv.replace("leap=00", "leap=11").replace("stratum=2", "stratum=16");
    expect(ntpsecSynced(unsync, peers).synced).toBe(false);
    expect(ntpsecSynced(rv, peers.replace("*10.77.0.12", "+10.77.0.12")).synced).toBe(false);
    expect(ntpsecSynced("***Socket error; probably ntpd is not running\n", "")).toEqual({
      synced: false,
      detail: "ntpq: not-running",
    });
  });

  it("reads the rate-limited counter of `ntpq -c sysstats`", () => {
    expect(parseNtpqRateLimited(NTPQ_SYSSTATS)).toBe(0);
    expect(
      parseNtpqRateLimited(
        NTPQ_SYSSTATS.replace(/^rate limited:\s+0/m, "rate limited:                   2030"),
      ),
    ).toBe(2030);
    expect(parseNtpqRateLimited("***Request timed out\n")).toBeNull();
  });
});

describe("chronyc parsing", () => {
  it("is synchronised with leap Normal, stratum 2 and a ^* source", () => {
    expect(chronySynced(CHRONY_TRACKING, CHRONY_SOURCES)).toEqual({
      synced: true,
      detail: "leap Normal, stratum 2, system peer true",
    });
  });

  it("is not synchronised before the first update or without a selected source", () => {
    const unsync = CHRONY_TRACKING.replace(
      "Leap status     : Normal",
      "Leap status     : Not synchronised",
    ).replace("Stratum         : 2", "Stratum         : 0");
    expect(chronySynced(unsync, CHRONY_SOURCES).synced).toBe(false);
    expect(chronySynced(CHRONY_TRACKING, CHRONY_SOURCES.replace("^*", "^+")).synced).toBe(false);
    expect(chronySynced("", "").detail).toBe("leap ?, stratum NaN, system peer false");
  });

  it("reads chrony's rate-limit drops from serverstats", () => {
    expect(parseChronyDropped(CHRONY_SERVERSTATS)).toBe(0);
    expect(
      parseChronyDropped(
        CHRONY_SERVERSTATS.replace(
          "NTP packets dropped        : 0",
          "NTP packets dropped        : 77",
        ),
      ),
    ).toBe(77);
    expect(parseChronyDropped("506 Cannot talk to daemon\n")).toBeNull();
  });
});

describe("kernel counters", () => {
  it("parses the Udp lines of /proc/net/snmp (not UdpLite)", () => {
    const u = parseUdpSnmp(PROC_NET_SNMP);
    expect(u.InDatagrams).toBe(215);
    expect(u.RcvbufErrors).toBe(0);
    expect(Object.keys(u)).toHaveLength(9);
    expect(() => parseUdpSnmp("Ip: Forwarding\nIp: 1\n")).toThrow(/no Udp header/);
  });

  it("finds the receive buffer of the socket on the member address", () => {
    expect(parseSsRcvbuf(SS_UAMN, "10.77.0.2")).toBe(1048576);
    expect(parseSsRcvbuf(SS_UAMN, "10.77.0.9")).toBeNull();
  });
});

describe("ntpload output", () => {
  const line =
    '{"rate":40000,"duration":3.000,"sources":131072,"sent":119996,"sendSeconds":2.9999,"achievedRate":40000.1,"replies":119993,"kod":0,"bad":0,"dup":0,"sendErrors":0}';

  it("parses the last JSON line", () => {
    expect(parseLoadOutput(`noise\n${line}\n`)).toEqual({
      rate: 40000,
      sent: 119996,
      replies: 119993,
      kod: 0,
      achievedRate: 40000.1,
      sendSeconds: 2.9999,
      bad: 0,
      dup: 0,
      sendErrors: 0,
    });
  });

  it("names the bad field", () => {
    expect(() => parseLoadOutput(line.replace('"replies":119993', '"replies":"x"'))).toThrow(
      /replies must be a number.*"x"/,
    );
    expect(() => parseLoadOutput("ntpload: sendmmsg: Network is unreachable")).toThrow(/not JSON/);
  });
});

describe("configs", () => {
  it("runs OUR ntp.conf with only the two host paths moved", () => {
    const ours = renderNtpConf(["10.77.0.11", "10.77.0.12"]);
    const bench = benchNtpConf(["10.77.0.11", "10.77.0.12"], "/tmp/x/d.drift", "/tmp/x/leap");
    expect(bench).toContain("driftfile /tmp/x/d.drift\n");
    expect(bench).toContain("leapfile /tmp/x/leap\n");
    expect(bench).not.toMatch(/\/var\/lib|zoneinfo/);
    const norm = (t: string) => t.split("\n").filter((l) => !/^(driftfile|leapfile) /.test(l));
    expect(norm(bench)).toEqual(norm(ours));
  });

  it("removes exactly the tos line for the reference variant, and fails if there is none", () => {
    const conf = renderNtpConf(["a.example", "b.example", "c.example", "d.example"]);
    const ref = withoutTos(conf);
    expect(conf.split("\n").length - ref.split("\n").length).toBe(1);
    expect(ref).not.toMatch(/^tos /m);
    expect(() => withoutTos(ref)).toThrow(/no `tos` line/);
  });

  it("gives chrony the same servers, minsources 3 and only scratch paths", () => {
    const c = renderChronyConf(
      ["10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14"],
      "/tmp/r/c1",
    );
    expect(c.match(/^server \S+ iburst$/gm)).toHaveLength(4);
    expect(c).toMatch(/^minsources 3$/m);
    expect(c).toMatch(/^allow$/m);
    expect(c).toMatch(/^cmdport 0$/m);
    const paths = c.match(/\/\S+/g) ?? [];
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p === "/tmp/r/c1" || p.startsWith("/tmp/r/c1/")).toBe(true);
  });

  it("lists every NTPsec buffer size and chrony at the largest", () => {
    expect(capacityVariants([1_048_576, 4_194_304]).map((v) => [v.kind, v.rcvbuf])).toEqual([
      ["ntpsec", null],
      ["ntpsec", 1_048_576],
      ["ntpsec", 4_194_304],
      ["chrony", null],
      ["chrony", 4_194_304],
    ]);
    expect(capacityVariants([]).map((v) => v.rcvbuf)).toEqual([null, null]);
  });
});

describe("other parsers", () => {
  it("reads evalProgram's line", () => {
    expect(parseEvalLine('{"members":10,"resources":130,"ms":722.7}\n')).toEqual({
      members: 10,
      resources: 130,
      ms: 722.7,
    });
    expect(() => parseEvalLine('{"members":10,"ms":1}')).toThrow(/resources must be a number/);
  });

  it("reads the CPU model", () => {
    expect(cpuModel("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: fpu\n")).toBe("AMD EPYC");
    expect(cpuModel("processor\t: 0\n")).toBe("unknown");
  });

  it("takes a verified lab report's figures, the slowest member's", () => {
    const report = {
      ok: true,
      seconds: 41.5,
      members: [
        {
          syncSeconds: 18.2,
          bootSeconds: 9.1,
          verification: { ok: true },
          cloudInit: {
            stages: [
              { name: "init-local", rc: 0, seconds: 1 },
              { name: "modules-final", rc: 0, seconds: 22 },
              { name: 7 },
            ],
          },
        },
        { syncSeconds: 20.4, bootSeconds: 8.7, verification: { ok: true } },
      ],
    };
    expect(readLabReport(JSON.stringify(report))).toEqual({
      ok: true,
      labSeconds: 41.5,
      syncSeconds: 20.4,
      bootSeconds: 9.1,
      // The first member's stages; malformed entries dropped.
      stages: [
        { name: "init-local", seconds: 1 },
        { name: "modules-final", seconds: 22 },
      ],
    });
  });

  it("gives no lab figure when a member is not verified or a member never synced", () => {
    const failed = {
      ok: false,
      seconds: 200,
      error: "member x: not synchronised",
      members: [{ syncSeconds: null, bootSeconds: 9, verification: { ok: false } }],
    };
    expect(readLabReport(JSON.stringify(failed))).toEqual({
      ok: false,
      labSeconds: null,
      syncSeconds: null,
      bootSeconds: 9,
      stages: [],
      error: "member x: not synchronised",
    });
    expect(() => readLabReport('{"members":[]}')).toThrow(/expected \{ ok: boolean/);
  });
});
