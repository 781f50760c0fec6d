import Export
import Foundation
import Testing
import _TestSupport

/// `mpirun -np 2 pare search`: the candidates of each generation spread over two ranks.
@Suite struct DistributedCLITests {
    static var mpirun: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// mpirun under root needs OpenMPI's explicit consent; more ranks than cores are fine here.
    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return env
    }

    static func arguments(_ args: [String]) -> [String] { ["--oversubscribe", "-np", "2", CLI.binary.path] + args }

    static func run(_ args: [String]) throws -> (status: Int32, output: String) {
        try runProgram(mpirun!, arguments(args), environment: environment)
    }

    /// Starts a 2-rank job, kills one rank (kill -9) once `ready()` holds, and returns how the
    /// job ended: its status, output and the seconds it took after the kill.
    static func killOneRank(_ args: [String], when ready: () -> Bool) throws -> (status: Int32, output: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun!)
        p.arguments = arguments(args)
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline && !ready() { usleep(5_000) }
        let children = try runProgram("/usr/bin/pgrep", ["-P", "\(p.processIdentifier)"]).output.split(separator: "\n").compactMap { Int32($0) }
        #expect(children.count == 2, "the two ranks are mpirun's children: \(children)")
        if let victim = children.last { kill(victim, SIGKILL) }
        let killedAt = Date()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(killedAt)
        // mpirun can return before the surviving rank is gone; the run's lock is free only then.
        let gone = Date().addingTimeInterval(20)
        while children.contains(where: { kill($0, 0) == 0 }) && Date() < gone { usleep(20_000) }
        return (p.terminationStatus, text, seconds)
    }

    /// The largest architecture's weights of a run (exported with BN recalibration).
    func weights(_ run: String) throws -> [String: [Float]] {
        let arch = "32/64/128:shuffle7@2.0,xception@2.0,shuffle7@2.0,xception@2.0,shuffle7@2.0,xception@2.0"
        let r = try CLI.run(["export", "--run", run, "--arch", arch, "--out", run + "/largest", "--calibration-images", "256", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        return try Safetensors.read(run + "/largest/model.safetensors").0.mapValues(\.values)
    }

    /// Over the trained tensors (running statistics are recalibrated at export, not trained).
    func largestDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Float {
        var worst: Float = 0
        for (name, x) in a where !name.contains("running") { for (u, v) in zip(x, b[name] ?? []) { worst = max(worst, abs(u - v)) } }
        return worst
    }

    @Test("mpirun -np 2 pare train --sync-bn trains the weights of one process; a killed rank fails the job and its checkpoint resumes in one process")
    func dataParallelTraining() throws {
        guard Self.mpirun != nil else {
            Issue.record("no mpirun: run scripts/setup.sh (installs openmpi-bin and libopenmpi-dev)")
            return
        }
        let base = NSTemporaryDirectory() + "pare-dp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        // A small learning rate: at 0.4 an untrained supernet amplifies float-order differences.
        let train = ["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--threads", "1",
                     "--lr", "0.01", "--checkpoint-every", "2"]
        var reference: [String: [Float]] = [:]
        for sampling in ["uniform", "sandwich", "distill"] {
            let single = try CLI.run(train + ["--sampling", sampling, "--run", base + "/\(sampling)-1"])
            #expect(single.status == 0, "\(single.stderr)")
            let two = try Self.run(train + ["--sampling", sampling, "--sync-bn", "--run", base + "/\(sampling)-2"])
            #expect(two.status == 0, "\(two.output)")
            #expect(two.output.contains("MPI: 2 ranks x 1 threads, global batch 128 (64 per rank)"))
            let a = try weights(base + "/\(sampling)-1"), b = try weights(base + "/\(sampling)-2")
            #expect(a.keys.sorted() == b.keys.sorted())
            #expect(largestDifference(a, b) <= 1e-3, "\(sampling): \(largestDifference(a, b))")
            if sampling == "uniform" { reference = a }
        }

        // kill -9 a rank after the first checkpoint: the job fails, the checkpoint resumes single-process.
        func checkpoints() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: base + "/killed/checkpoints")) ?? [] }
        let killed = try Self.killOneRank(train + ["--sampling", "uniform", "--sync-bn", "--run", base + "/killed"]) {
            checkpoints().contains { $0.hasSuffix(".bin") }
        }
        #expect(killed.status != 0, "\(killed.output.suffix(400))")
        #expect(killed.seconds < 30)
        let resumed = try CLI.run(["train", "--run", base + "/killed", "--resume", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from"))
        #expect(largestDifference(reference, try weights(base + "/killed")) <= 1e-3)
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

        // pare correlate: the architectures dealt over the ranks, the same study as one process.
        let correlate = ["correlate", "--samples", "3", "--epochs", "1", "--train-images", "256", "--validation-images", "128", "--threads", "1"]
        let one = try CLI.run(correlate + ["--run", base + "/a", "--out", base + "/one.json"])
        #expect(one.status == 0, "\(one.stderr)")
        let spread = try Self.run(correlate + ["--run", base + "/a", "--out", base + "/two.json"])
        #expect(spread.status == 0, "\(spread.output)")
        func study(_ f: String) throws -> [[String: Any]] {
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/" + f))) as! [String: Any])["architectures"] as! [[String: Any]]
        }
        let (x, y) = (try study("one.json"), try study("two.json"))
        #expect(x.map { $0["arch"] as! String } == y.map { $0["arch"] as! String })
        #expect(x.map { $0["standalone_accuracies"] as! [Double] } == y.map { $0["standalone_accuracies"] as! [Double] })
        #expect(x.map { $0["inherited_score"] as! Double } == y.map { $0["inherited_score"] as! Double })

        // kill -9 one rank once the first generation is saved: mpirun ends the job with an error
        // instead of hanging, and the saved state resumes (here in one process) to the same result.
        var longer = search + ["--run", base + "/c"]
        longer[longer.firstIndex(of: "--generations")! + 1] = "12"
        let killed = try Self.killOneRank(longer) { FileManager.default.fileExists(atPath: base + "/c/search/state.json") }
        #expect(killed.status != 0)
        #expect(killed.seconds < 30, "the job ended \(killed.seconds) s after the kill")
        #expect(killed.output.contains("signal 9") || killed.output.contains("Killed"), "\(killed.output.suffix(600))")
        let resumed = try CLI.run(longer + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("searched 12 generations"), "\(resumed.stdout)")
    }
}
