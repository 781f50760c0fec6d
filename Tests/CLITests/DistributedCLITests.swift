import Foundation
import Testing
import _TestSupport

/// `mpirun -np 2 pare search`: the candidates of each generation spread over two ranks.
@Suite struct DistributedCLITests {
    static var mpirun: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// mpirun under root needs OpenMPI's explicit consent; more ranks than cores are fine here.
    static func launch(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun!)
        p.arguments = ["--oversubscribe", "-np", "2", CLI.binary.path] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        return p
    }

    static func run(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = try launch(args)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    let search = ["search", "--max-flops", "2.5M", "--population", "6", "--generations", "3", "--parents", "3", "--mutations", "3",
                  "--crossovers", "3", "--validation-images", "200", "--calibration-images", "256", "--threads", "1"]

    @Test("a 2-rank search has the history and best candidate of a single-process search; a killed rank fails the job, and the search resumes")
    func distributedSearchEqualsSingleProcess() throws {
        guard Self.mpirun != nil else {
            Issue.record("no mpirun: run scripts/setup.sh (installs openmpi-bin and libopenmpi-dev)")
            return
        }
        let base = NSTemporaryDirectory() + "pare-mpi-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let trained = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", base + "/a"])
        #expect(trained.status == 0, "\(trained.stderr)")
        for copy in ["b", "c"] { try FileManager.default.copyItem(atPath: base + "/a", toPath: base + "/" + copy) }

        let single = try CLI.run(search + ["--run", base + "/a"])
        #expect(single.status == 0, "\(single.stderr)")
        let distributed = try Self.run(search + ["--run", base + "/b"])
        #expect(distributed.status == 0, "\(distributed.output)")
        #expect(distributed.output.contains("MPI: 2 ranks, 1 engine threads each"))
        let history = try String(contentsOfFile: base + "/a/search/history.jsonl", encoding: .utf8)
        #expect(try String(contentsOfFile: base + "/b/search/history.jsonl", encoding: .utf8) == history)
        #expect(try String(contentsOfFile: base + "/b/search/best.txt", encoding: .utf8)
                == String(contentsOfFile: base + "/a/search/best.txt", encoding: .utf8))

        // kill -9 one rank once the first generation is saved: mpirun ends the job with an error
        // instead of hanging, and the saved state resumes (here in one process) to the same result.
        var longer = search + ["--run", base + "/c"]
        longer[longer.firstIndex(of: "--generations")! + 1] = "12"
        let p = try Self.launch(longer)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: base + "/c/search/state.json") { usleep(20_000) }
        let children = try runProgram("/usr/bin/pgrep", ["-P", "\(p.processIdentifier)"]).output.split(separator: "\n").compactMap { Int32($0) }
        #expect(children.count == 2, "the two ranks are mpirun's children: \(children)")
        if let victim = children.last { kill(victim, SIGKILL) }
        let killedAt = Date()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        #expect(Date().timeIntervalSince(killedAt) < 30, "the job ended \(Date().timeIntervalSince(killedAt)) s after the kill")
        #expect(text.contains("signal 9") || text.contains("Killed"), "\(text.suffix(600))")
        let resumed = try CLI.run(longer + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("searched 12 generations"), "\(resumed.stdout)")
    }
}
