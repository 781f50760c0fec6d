import Foundation
import Testing

/// `pare study` end to end on synthetic data: one seed, a tight budget, every arm trained
/// from the same data and splits with the same seed; run again, it only prints the table.
@Suite struct StudyCLITests {
    @Test func aSmallStudyTrainsEveryArmAlikeAndContinuesFromItsDirectory() throws {
        let dir = NSTemporaryDirectory() + "pare-study-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["study", "--dir", dir, "--space", "reference", "--data", "synthetic", "--seeds", "5", "--supernet-epochs", "1",
                    "--max-flops", "1.8M", "--population", "4", "--generations", "2", "--validation-images", "100",
                    "--calibration-images", "128", "--retrain-epochs", "1", "--train-limit", "768", "--validation", "256"]
        let r = try CLI.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        let table = try String(contentsOfFile: dir + "/macs-1.80M/table.md", encoding: .utf8)
        #expect(table.split(separator: "\n").filter { $0.hasPrefix("| uniform") || $0.hasPrefix("| random") || $0.hasPrefix("| evolution") }.count == 8)
        #expect(r.stdout.contains(table))
        // Each distinct winner trained twice, with the study's seed, on the supernet's data and splits.
        var models = 0
        for arm in ["uniform", "random-best", "random-pick", "evolution"] {
            let model = dir + "/macs-1.80M/seed-5/" + arm
            guard FileManager.default.fileExists(atPath: model + "/model.json") else { continue }
            models += 1
            for run in ["finetune", "scratch"] {
                let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/\(run)/run.json"))) as! [String: Any]
                #expect(config["seed"] as? Int == 5 && config["data"] as? String == "synthetic" && config["validation"] as? Int == 256
                        && config["trainLimit"] as? Int == 768 && config["epochs"] as? Int == 1, "\(arm) \(run): \(config)")
            }
        }
        #expect(models >= 2)
        let again = try CLI.run(args)
        #expect(again.status == 0 && !again.stderr.contains("[study") && again.stdout.contains(table), "\(again.stderr)")
        let other = try CLI.run(args + ["--retrain-epochs", "2", "--name", "macs-1.80M"])
        #expect(other.status == 1 && other.stderr.contains("started with other settings"), "\(other.stderr)")
        let none = try CLI.run(["study", "--dir", dir, "--space", "reference"])
        #expect(none.status == 1 && none.stderr.contains("a study needs a budget"))
    }
}
