import Foundation
import Testing

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
        // The reviewer's statistics: intervals, tau within MACs bands (2 for 4 architectures), regret.
        #expect(json["macs_bands"] as? Int == 2 && json["band_macs_kendall_tau"] != nil && (json["macs_kendall_tau_ci95"] as? [Any])?.count == 2)
        let first = (json["variants"] as! [[String: Any]])[0]
        #expect((first["kendall_tau_ci95"] as? [Any])?.count == 2 && first["band_kendall_tau"] != nil)
        #expect((first["top_k_regret"] as? [String: Double]).map { Array($0.keys).sorted() } == ["1", "3"])
        #expect(r.stdout.contains("within 2 MACs bands") && r.stdout.contains("top-k regret"), "\(r.stdout)")
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
