import Foundation
import Testing

/// `pare finetune --include-validation`: the final model trains on the whole training file,
/// and every place that reports validation accuracy says that it is not held out.
@Suite struct IncludeValidationCLITests {
    @Test func finetuneTrainsOnTheValidationSplitToo() throws {
        let base = NSTemporaryDirectory() + "pare-incval-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try CLI.exportedModels(base, [(CLI.small, "held-out"), (CLI.small, "all")])
        var r: (status: Int32, stdout: String, stderr: String)
        func steps(_ model: String) throws -> Int {
            let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/\(model)/finetune/summary.json"))) as! [String: Any]
            return s["steps"] as? Int ?? -1
        }
        // Synthetic data: 2048 training images, 1024 of them held out; batches of 128.
        r = try CLI.run(["finetune", base + "/held-out", "--epochs", "1", "--lr", "0.01"])
        #expect(r.status == 0 && r.stderr.contains("1024 train / 1024 validation,"), "\(r.stderr)")
        #expect(try steps("held-out") == 8)
        r = try CLI.run(["finetune", base + "/all", "--epochs", "1", "--lr", "0.01", "--include-validation"])
        #expect(r.status == 0 && r.stderr.contains("2048 train / 1024 validation (trained on too)")
                && r.stderr.contains("val acc (trained on)"), "\(r.stderr)")
        #expect(try steps("all") == 16)

        // pare eval warns on the validation split of such weights only.
        for (model, warns) in [("all", true), ("held-out", false)] {
            r = try CLI.run(["eval", base + "/" + model, "--split", "val", "--repeats", "1"])
            #expect(r.status == 0 && r.stderr.contains("trained on the validation split too") == warns, "\(model): \(r.stderr)")
            r = try CLI.run(["eval", base + "/" + model, "--split", "test", "--repeats", "1"])
            #expect(r.status == 0 && !r.stderr.contains("trained on the validation split"), "\(model): \(r.stderr)")
        }

        // The choice is part of the run: a resume that changes it is refused in one line.
        r = try CLI.run(["finetune", base + "/held-out", "--resume", "--include-validation"])
        #expect(r.status == 1 && r.stderr.contains("--include-validation") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}
