import Foundation
import Testing

/// The user pipeline end to end on synthetic data: train -> search -> export -> eval ->
/// finetune (interrupted and resumed) -> eval.
@Suite struct ExportCLITests {
    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func exportEvalFinetunePipeline() throws {
        let base = NSTemporaryDirectory() + "pare-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let run = base + "/run"
        var r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["search", "--run", run, "--max-flops", "2.5M", "--population", "6", "--generations", "2", "--parents", "2",
                         "--mutations", "2", "--crossovers", "2", "--calibration-images", "256"])
        #expect(r.status == 0, "\(r.stderr)")
        let best = try json(run + "/search/best.json")

        let model = base + "/model"
        r = try CLI.run(["export", "--run", run, "--out", model, "--onnx", "--folded", "--calibration-images", "256"])
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["model.json", "model.safetensors", "model.folded.safetensors", "model.onnx"] {
            #expect(FileManager.default.fileExists(atPath: model + "/" + f), "\(f)")
        }
        let description = try json(model + "/model.json")
        #expect(description["architecture"] as? String == best["architecture"] as? String)
        #expect((description["macs"] as! Int) <= 2_500_000)
        let provenance = description["provenance"] as! [String: Any]
        // The export recalibrates exactly as the search scored: same score.
        #expect(provenance["inheritedScore"] as? Double == best["score"] as? Double)

        r = try CLI.run(["eval", model, "--split", "val", "--repeats", "3", "--batch", "50"])
        #expect(r.status == 0, "\(r.stderr)")
        let exported = try json(model + "/eval-exported-val.json")
        #expect(exported["accuracy"] as? Double == best["score"] as? Double, "eval of the export reproduces the inherited score")
        #expect((exported["per_class_accuracy"] as! [Double]).count == 10)
        #expect((exported["latency_ms_batch1"] as! Double) > 0)

        // Finetune: uninterrupted in one copy, interrupted + resumed in another; same weights.
        try FileManager.default.copyItem(atPath: model, toPath: base + "/copy")
        let finetune = ["--epochs", "20", "--checkpoint-every", "5", "--lr", "0.01"]
        r = try CLI.run(["finetune", model] + finetune)
        #expect(r.status == 0, "\(r.stderr)")
        let status = try TrainCLITests().interrupted(["finetune", base + "/copy"] + finetune, run: base + "/copy/finetune", signal: SIGINT)
        #expect(status == 130)
        r = try CLI.run(["finetune", base + "/copy", "--resume"])
        #expect(r.status == 0 && r.stderr.contains("resumed from"), "\(r.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: model + "/model.finetuned.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: base + "/copy/model.finetuned.safetensors"))
        #expect(a == b, "resumed finetuning must end with the same weights")
        r = try CLI.run(["eval", model, "--repeats", "3"])
        #expect(r.status == 0 && r.stdout.contains("[model.finetuned.safetensors]"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: model + "/eval-finetuned-test.json"))
    }

    @Test func badInputGivesOneLineErrors() throws {
        let base = NSTemporaryDirectory() + "pare-export-bad-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        var r = try CLI.run(["eval", base + "/nothing"])
        #expect(r.status == 1 && r.stderr == "error: \(base)/nothing/model.json: cannot read (no such file; is \(base)/nothing a directory written by `pare export`?)\n")
        r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", base + "/run"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["export", "--run", base + "/run", "--out", base + "/m"])
        #expect(r.status == 1 && r.stderr.hasPrefix("error: \(base)/run/search/best.json: not found; run `pare search"), "\(r.stderr)")
        r = try CLI.run(["export", "--run", base + "/run", "--arch", "32/64/128:shuffle3@1.0", "--out", base + "/m"])
        #expect(r.status == 1 && r.stderr == "error: --arch: architecture: 1 block genes for 6 blocks\n", "\(r.stderr)")
        r = try CLI.run(["export", "--run", base + "/run", "--arch", "32/64/128:shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0",
                         "--out", base + "/m"])
        #expect(r.status == 0, "\(r.stderr)")
        // A damaged weight file: one line naming the file and the tensor.
        let weights = base + "/m/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: weights))
        try data.prefix(data.count - 4).write(to: URL(fileURLWithPath: weights))
        r = try CLI.run(["eval", base + "/m", "--weights", "exported"])
        #expect(r.status == 1 && r.stderr.hasPrefix("error: \(weights): truncated: tensor '") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        r = try CLI.run(["finetune", base + "/m", "--resume"])
        #expect(r.status == 1 && r.stderr == "error: \(base)/m/finetune/run.json: not found; start finetuning without --resume\n", "\(r.stderr)")
    }
}
