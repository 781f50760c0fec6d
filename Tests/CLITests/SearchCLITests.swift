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

@Suite struct CorrelateCLITests {
    @Test func correlateReportsRankCorrelations() throws {
        let run = NSTemporaryDirectory() + "pare-corr-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: run) }
        var r = try CLI.run(["correlate", "--run", run])
        #expect(r.status == 1 && r.stderr == "error: \(run): no such run directory (train one with: pare train --space FILE --run \(run))\n")
        #expect(!FileManager.default.fileExists(atPath: run))
        r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["correlate", "--run", run, "--samples", "4", "--epochs", "1", "--train-images", "256", "--validation-images", "128",
                         "--finetune-steps", "0,2", "--standalone-seeds", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/correlate.json"))) as! [String: Any]
        #expect((json["variants"] as! [[String: Any]]).map { $0["finetune_steps"] as! Int } == [0, 2])
        for a in json["architectures"] as! [[String: Any]] {
            let seeds = a["standalone_accuracies"] as! [Double]
            #expect(seeds.count == 2 && abs(a["standalone_accuracy"] as! Double - (seeds[0] + seeds[1]) / 2) < 1e-12)
            #expect((a["scores"] as! [String: Double]).keys.sorted() == ["finetune_0", "finetune_2"])
        }
        #expect(json["seed_to_seed_kendall_tau"] != nil && json["macs_kendall_tau"] != nil)
        let bad = try CLI.run(["correlate", "--run", run, "--finetune-steps", "0,x"])
        #expect(bad.status == 1 && bad.stderr.contains("--finetune-steps: '0,x'"))

        // The stand-alone results are reused, not retrained: same architectures and accuracies.
        r = try CLI.run(["correlate", "--run", run, "--validation-images", "128", "--standalone-from", run + "/correlate.json",
                         "--finetune-steps", "3", "--out", run + "/again.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let again = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/again.json"))) as! [String: Any]
        let before = (json["architectures"] as! [[String: Any]]), after = (again["architectures"] as! [[String: Any]])
        #expect(after.map { $0["arch"] as! String } == before.map { $0["arch"] as! String })
        #expect(after.map { $0["standalone_accuracies"] as! [Double] } == before.map { $0["standalone_accuracies"] as! [Double] })
        #expect(again["train_images"] as? Int == 256 && again["standalone_seeds"] as? Int == 2)
        // Asking for more seeds than the file holds trains only the missing one.
        r = try CLI.run(["correlate", "--run", run, "--validation-images", "128", "--standalone-from", run + "/correlate.json",
                         "--standalone-seeds", "3", "--out", run + "/three.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let three = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/three.json"))) as! [String: Any]
        let threeSeeds = (three["architectures"] as! [[String: Any]]).map { $0["standalone_accuracies"] as! [Double] }
        #expect(threeSeeds.map { Array($0.prefix(2)) } == before.map { $0["standalone_accuracies"] as! [Double] })
        #expect(threeSeeds.allSatisfy { $0.count == 3 } && three["standalone_seeds"] as? Int == 3)
        let mismatch = try CLI.run(["correlate", "--run", run, "--standalone-from", run + "/correlate.json"])
        #expect(mismatch.status == 1 && mismatch.stderr.contains("field 'validation_images' is 128"), "\(mismatch.stderr)")
        let missing = try CLI.run(["correlate", "--run", run, "--standalone-from", run + "/nope.json"])
        #expect(missing.status == 1 && missing.stderr == "error: \(run)/nope.json: file not found\n")
        // Undefined (null) when a short run leaves every score equal; otherwise within [-1, 1].
        for key in ["kendall_tau", "spearman_rho"] {
            if let v = json[key] as? Double { #expect(v >= -1 && v <= 1) } else { #expect(json[key] is NSNull) }
        }
        #expect((json["architectures"] as! [Any]).count == 4)
        #expect(r.stdout.contains("Kendall tau"))
    }
}
