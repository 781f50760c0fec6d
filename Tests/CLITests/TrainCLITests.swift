import Foundation
import Testing
import _TestSupport

/// `pare train` end to end: interruption by Ctrl-C or kill -9, then --resume, ends with
/// the same final checkpoint bytes as a run that was never stopped.
@Suite struct TrainCLITests {
    let base = ["train", "--space", "reference", "--data", "synthetic", "--epochs", "5", "--probes", "1",
                "--checkpoint-every", "7", "--seed", "3"]

    func temp() -> String { NSTemporaryDirectory() + "pare-train-\(UUID().uuidString)" }

    func finalCheckpoint(_ run: String) throws -> Data {
        let dir = run + "/checkpoints"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        return try Data(contentsOf: URL(fileURLWithPath: dir + "/" + names.last!))
    }

    /// Starts `pare` and sends `signal` once the run has written its first checkpoint.
    func interrupted(_ args: [String], run: String, signal: Int32) throws -> Int32 {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
            if !names.filter({ $0.hasSuffix(".bin") }).isEmpty { break }
            usleep(20_000)
        }
        usleep(150_000)
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test func interruptAndResumeMatchAnUninterruptedRun() throws {
        let whole = temp(), stopped = temp(), killed = temp()
        defer { for d in [whole, stopped, killed] { try? FileManager.default.removeItem(atPath: d) } }
        let r = try CLI.run(base + ["--run", whole])
        #expect(r.status == 0, "\(r.stderr)")
        let reference = try finalCheckpoint(whole)

        let status = try interrupted(base + ["--run", stopped], run: stopped, signal: SIGINT)
        #expect(status == 130, "Ctrl-C should checkpoint and exit 130")
        let resumed = try CLI.run(["train", "--run", stopped, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from"))
        #expect(try finalCheckpoint(stopped) == reference)

        _ = try interrupted(base + ["--run", killed], run: killed, signal: SIGKILL)
        let again = try CLI.run(["train", "--run", killed, "--resume"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try finalCheckpoint(killed) == reference)
    }

    /// Elastic depth and wide widths draw more choices per step; a resumed run still ends
    /// with the bytes of one that never stopped.
    @Test func elasticDepthResumesBitExact() throws {
        let whole = temp(), stopped = temp()
        defer { for d in [whole, stopped] { try? FileManager.default.removeItem(atPath: d) } }
        let spaceFile = temp() + ".yaml"
        defer { try? FileManager.default.removeItem(atPath: spaceFile) }
        try smallElasticSpaceYAML.write(toFile: spaceFile, atomically: true, encoding: .utf8)
        var args = base
        args[2] = spaceFile
        let r = try CLI.run(args + ["--run", whole])
        #expect(r.status == 0, "\(r.stderr)")
        let status = try interrupted(args + ["--run", stopped], run: stopped, signal: SIGINT)
        #expect(status == 130)
        let resumed = try CLI.run(["train", "--run", stopped, "--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resumed from"), "\(resumed.stderr)")
        #expect(try finalCheckpoint(stopped) == finalCheckpoint(whole))
        // Its probes skip blocks: the supernet trained paths of several depths.
        #expect((r.stdout + r.stderr).contains("skip"), "\(r.stdout)")
    }

    @Test func refusesConflictsWithOneLineErrors() throws {
        let run = temp()
        defer { try? FileManager.default.removeItem(atPath: run) }
        var r = try CLI.run(["train", "--run", run, "--resume"])
        #expect(r.status == 1 && r.stderr == "error: \(run)/run.json: not found; start the run without --resume (and with --space)\n")
        r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--run", run])
        #expect(r.status == 1 && r.stderr.contains("already has checkpoints; pass --resume"))
        r = try CLI.run(["train", "--run", run, "--resume", "--lr", "0.5"])
        #expect(r.status == 1 && r.stderr == "error: \(run)/run.json: the run was started with --lr 0.4, now 0.5; pass --override-config to resume anyway\n")
        r = try CLI.run(["train", "--run", run + "2", "--space", "/nonexistent/space.yaml"])
        #expect(r.status == 1 && r.stderr == "error: /nonexistent/space.yaml: file not found\n")
        try? FileManager.default.removeItem(atPath: run + "2")
        r = try CLI.run(["train", "--run", run + "3", "--space", "reference", "--sampling", "flops-band:20M-30M"])
        #expect(r.status == 1 && r.stderr.contains("misses the space (cheapest candidate 1060926"))
        try? FileManager.default.removeItem(atPath: run + "3")
        r = try CLI.run(["info", "--space", "reference", "--arch", "32/64/128:shuffle3@1.0"])
        #expect(r.status == 1 && r.stderr == "error: architecture: 1 block genes for 6 blocks\n")
        r = try CLI.run(["train", "--run", run + "4", "--space", "reference", "--data", "synthetic", "--channel-multiple", "3"])
        #expect(r.status == 1 && r.stderr == "error: --channel-multiple 3: stages[0].widths: width 32 is not a multiple of channel_multiple 3\n", "\(r.stderr)")
        try? FileManager.default.removeItem(atPath: run + "4")
        r = try CLI.run(["train", "--run", run + "4", "--space", "reference", "--channel-multiple", "0"])
        #expect(r.status != 0 && r.stderr.contains("--channel-multiple must be in 1...64"))
    }
}
