import Foundation
import Testing

/// `pare finetune --ema`: the weights' moving average is what is validated and written, and
/// an interrupted run resumes to the same average.
@Suite struct AverageCLITests {
    @Test func finetuneWritesTheAverageAndResumesIt() throws {
        let base = NSTemporaryDirectory() + "pare-ema-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try CLI.exportedModels(base, [(CLI.small, "averaged"), (CLI.small, "copy"), (CLI.small, "plain")])
        var r: (status: Int32, stdout: String, stderr: String)
        let options = ["--epochs", "20", "--checkpoint-every", "5", "--lr", "0.05", "--ema", "0.9"]
        r = try CLI.run(["finetune", base + "/averaged"] + options)
        #expect(r.status == 0 && r.stderr.contains("moving average (decay 0.9)"), "\(r.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/averaged/finetune/run.json"))) as! [String: Any]
        #expect((config["recipe"] as? [String: Any])?["averageDecay"] as? Double == 0.9, "\(config)")
        r = try CLI.run(["finetune", base + "/plain", "--epochs", "20", "--checkpoint-every", "5", "--lr", "0.05"])
        #expect(r.status == 0, "\(r.stderr)")
        func weights(_ dir: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: base + "/\(dir)/model.finetuned.safetensors")) }
        #expect(try weights("averaged") != weights("plain"))

        // The written weights are the validated ones: the last epoch's validation accuracy
        // is what pare eval measures on them.
        let lines = try String(contentsOfFile: base + "/averaged/finetune/train.jsonl", encoding: .utf8).split(separator: "\n")
        let epochs = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["kind"] as? String == "epoch" }
        let last = ((epochs.last?["probes"] as? [[String: Any]])?.first?["val_accuracy"] as? Double) ?? -1
        r = try CLI.run(["eval", base + "/averaged", "--split", "val", "--repeats", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let evaluated = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/averaged/eval-finetuned-val.json"))) as! [String: Any]
        #expect(abs((evaluated["accuracy"] as? Double ?? -2) - last) < 1e-9, "validated \(last), evaluated \(evaluated["accuracy"] ?? "none")")

        // Interrupted and resumed: the same average.
        let status = try TrainCLITests().interrupted(["finetune", base + "/copy"] + options, run: base + "/copy/finetune", signal: SIGINT)
        #expect(status == 130)
        r = try CLI.run(["finetune", base + "/copy", "--resume", "--ema", "0.99"])
        #expect(r.status == 1 && r.stderr.contains("--ema") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        r = try CLI.run(["finetune", base + "/copy", "--resume"])
        #expect(r.status == 0 && r.stderr.contains("resumed from") && r.stderr.contains("moving average"), "\(r.stderr)")
        #expect(try weights("averaged") == weights("copy"), "a resumed average must end with the same weights")

        // Refusals, one line each.
        for (args, message) in [(["--ema", "1"], "--ema must be a decay in (0, 1), e.g. 0.999; got '1'"),
                                (["--ema", "0.9", "--qat"], "--ema cannot be combined with --qat or --soft-prune")] {
            r = try CLI.run(["finetune", base + "/plain", "--run", base + "/refused"] + args)
            #expect(r.status != 0 && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
