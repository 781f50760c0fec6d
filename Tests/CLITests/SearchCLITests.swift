import Foundation
import Testing

/// `pare search` end to end on a small synthetic run.
@Suite struct SearchCLITests {
    let search = ["search", "--max-flops", "2.5M", "--max-params", "90K", "--population", "8", "--generations", "4",
                  "--parents", "3", "--mutations", "4", "--crossovers", "4", "--validation-images", "200", "--calibration-images", "256"]

    @Test func searchRespectsBudgetsAndResumesExactly() throws {
        let base = NSTemporaryDirectory() + "pare-search-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let trained = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", base + "/a"])
        #expect(trained.status == 0, "\(trained.stderr)")
        try FileManager.default.copyItem(atPath: base + "/a", toPath: base + "/b")

        let whole = try CLI.run(search + ["--run", base + "/a"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let history = try String(contentsOfFile: base + "/a/search/history.jsonl", encoding: .utf8)
        let lines = history.split(separator: "\n")
        #expect(lines.count > 8)
        for line in lines {
            let c = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect((c["macs"] as! Int) <= 2_500_000 && (c["params"] as! Int) <= 90_000)
        }
        for f in ["best.txt", "best.json", "plot.svg", "state.json"] {
            #expect(FileManager.default.fileExists(atPath: base + "/a/search/" + f), "\(f)")
        }

        // Interrupt after the first generation's state is saved, then resume.
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = search + ["--run", base + "/b"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: base + "/b/search/state.json") { usleep(10_000) }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let resumed = try CLI.run(search + ["--run", base + "/b", "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try String(contentsOfFile: base + "/b/search/history.jsonl", encoding: .utf8) == history)
        #expect(try String(contentsOfFile: base + "/b/search/best.txt", encoding: .utf8)
                == String(contentsOfFile: base + "/a/search/best.txt", encoding: .utf8))

        // Infeasible budget: one line with the cheapest achievable cost, before any work.
        let tiny = try CLI.run(["search", "--run", base + "/a", "--max-flops", "0.5M"])
        #expect(tiny.status == 1)
        #expect(tiny.stderr == "error: budget MACs <= 500000 is infeasible: the cheapest candidate costs 1060926 MACs, 49354 params (32/64/128:shuffle3@0.2,shuffle3@0.2,xception@0.2,shuffle3@0.2,xception@0.2,shuffle3@0.2)\n")
        // Edge budgets: the history and the table carry peak memory and flash, every one within.
        let edge = try CLI.run(["search", "--run", base + "/a", "--name", "edge", "--max-peak-memory", "24KiB", "--max-flash", "80KB",
                                "--population", "6", "--generations", "2", "--parents", "3", "--mutations", "3", "--crossovers", "3",
                                "--validation-images", "100", "--calibration-images", "128"])
        #expect(edge.status == 0 && edge.stdout.contains("peakKiB flashKiB"), "\(edge.stderr)")
        for line in try String(contentsOfFile: base + "/a/search-edge/history.jsonl", encoding: .utf8).split(separator: "\n") {
            let c = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect((c["peak_memory_bytes"] as! Int) <= 24 * 1024 && (c["flash_bytes"] as! Int) <= 80_000)
        }
        #expect(try String(contentsOfFile: base + "/a/search-edge/plot.svg", encoding: .utf8).contains("int8 peak activation memory"))
        let bad = try CLI.run(["search", "--run", base + "/a", "--max-flash", "lots"])
        #expect(bad.status != 0 && bad.stderr.contains("'lots' is not a size like 32KB"), "\(bad.stderr)")
        let again = try CLI.run(search + ["--run", base + "/a"])
        #expect(again.status == 1 && again.stderr.contains("a search already exists here; pass --resume"))
        // Resuming with other scoring settings would mix incomparable scores.
        let rescored = try CLI.run(search + ["--run", base + "/a", "--resume", "--finetune-steps", "2"])
        #expect(rescored.status == 1 && rescored.stderr.contains("scored with other settings"), "\(rescored.stderr)")
        // A finetuned-scoring search in its own directory, beside the first.
        let tuned = try CLI.run(search + ["--run", base + "/a", "--name", "ft", "--finetune-steps", "2", "--generations", "1"])
        #expect(tuned.status == 0, "\(tuned.stderr)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/a/search-ft/state.json"))) as! [String: Any]
        #expect((state["scoring"] as? [String: Any])?["finetuneSteps"] as? Int == 2)
    }
}
