import Foundation
import Testing
import _TestSupport

/// A small network trained, exported, quantized and evaluated in int8 through the CLI.
@Suite struct QuantizeCLITests {
    @Test func quantizeEvalAndRefusals() throws {
        let tmp = TemporaryDirectory("quantize")
        defer { withExtendedLifetime(tmp) {} }
        let base = tmp.path
        tmp.file("space.yaml", Array(PruneCLITests.space.utf8))
        var r = try CLI.run(["train", "--space", base + "/space.yaml", "--data", "synthetic", "--epochs", "1", "--run", base + "/run"])
        #expect(r.status == 0, "\(r.stderr)")
        let model = base + "/model"
        r = try CLI.run(["export", "--run", base + "/run", "--out", model])
        #expect(r.status == 0, "\(r.stderr)")

        r = try CLI.run(["quantize", model, "--calibration-batches", "3", "--observer", "percentile", "--onnx", "--error-images", "50"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("accuracy, float -> int8") && r.stdout.contains("SQNR") && r.stdout.contains("lowest:"), "\(r.stdout)")
        for f in ["model.int8.safetensors", "model.int8.onnx", "quantize-report.json"] {
            #expect(FileManager.default.fileExists(atPath: model + "/" + f), "\(f)")
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/quantize-report.json"))) as! [String: Any]
        let test = report["test"] as! [String: Any]
        let settings = report["settings"] as! [String: Any]
        #expect(settings["observer"] as? String == "percentile" && settings["calibrationImages"] as? Int == 300)
        #expect((test["agreement"] as! Double) >= 0.9, "\(test)")
        #expect((report["weightBytesInt8"] as! Int) * 3 < (report["weightBytesFloat32"] as! Int))
        let files = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/model.json"))) as! [String: Any])["files"] as! [[String: Any]]
        #expect(files.contains { $0["content"] as? String == "int8_weights" } && files.contains { $0["content"] as? String == "int8_onnx" })

        // The int8 path evaluates to the accuracy the report measured on the same split.
        r = try CLI.run(["eval", model, "--int8", "--repeats", "3", "--batch", "50", "--predictions", base + "/int8.csv"])
        #expect(r.status == 0, "\(r.stderr)")
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/eval-int8-test.json"))) as! [String: Any]
        #expect(eval["accuracy"] as? Double == test["int8"] as? Double)
        #expect((eval["latency_ms_batch1"] as! Double) > 0)

        // Quantization-aware finetuning resumes bit-exactly, then quantizes.
        try FileManager.default.copyItem(atPath: model, toPath: base + "/copy")
        let qat = ["--qat", "--epochs", "12", "--checkpoint-every", "5", "--lr", "0.01"]
        r = try CLI.run(["finetune", model] + qat)
        #expect(r.status == 0 && r.stderr.contains("fake-quantized"), "\(r.stderr)")
        let status = try TrainCLITests().interrupted(["finetune", base + "/copy"] + qat, run: base + "/copy/qat", signal: SIGINT)
        #expect(status == 130)
        r = try CLI.run(["finetune", base + "/copy", "--qat", "--resume"])
        #expect(r.status == 0 && r.stderr.contains("resumed from"), "\(r.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: model + "/model.qat.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: base + "/copy/model.qat.safetensors"))
        #expect(a == b, "resumed quantization-aware finetuning must end with the same weights")
        r = try CLI.run(["quantize", model, "--weights", "qat", "--calibration-batches", "2", "--error-images", "20"])
        #expect(r.status == 0 && r.stdout.contains("[qat]") || r.stderr.contains("[qat]"), "\(r.stdout) \(r.stderr)")

        // Refusals: one line each, naming what is wrong.
        for (args, needle) in [
            (["quantize", model, "--observer", "mean"], "--observer"),
            (["quantize", base + "/nowhere"], "nowhere"),
            (["eval", base + "/run", "--int8"], "model.json"),
            (["finetune", model, "--qat", "--from-scratch"], "--qat"),
        ] {
            r = try CLI.run(args)
            #expect(r.status == 1 && r.stderr.contains(needle) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        let int8File = model + "/model.int8.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: int8File))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: int8File))
        r = try CLI.run(["eval", model, "--int8"])
        #expect(r.status == 1 && r.stderr.contains("model.int8.safetensors") && r.stderr.contains("truncated"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: int8File)
        r = try CLI.run(["eval", model, "--int8"])
        #expect(r.status == 1 && r.stderr.contains("pare quantize"), "\(r.stderr)")
    }
}

/// `pare latency --int8` and a search budgeting the int8 model's latency.
@Suite struct Int8LatencyCLITests {
    @Test func int8TableAndSearch() throws {
        let tmp = TemporaryDirectory("int8-latency")
        defer { withExtendedLifetime(tmp) {} }
        let base = tmp.path
        tmp.file("space.yaml", Array(smallShuffleSpaceYAML.utf8))
        var r = try CLI.run(["latency", "--space", base + "/space.yaml", "--int8", "--repeats", "3", "--calibrate", "3", "--validate", "4",
                             "--out", base + "/int8.json"])
        #expect(r.status == 0 && r.stdout.contains("int8 on oneDNN") && r.stdout.contains("mean |error|"), "\(r.stdout) \(r.stderr)")
        let table = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/int8.json"))) as! [String: Any]
        #expect(table["precision"] as? String == "int8")
        let entries = table["entries"] as! [[String: Any]]
        #expect(!entries.isEmpty && entries.allSatisfy { ($0["milliseconds"] as! Double) > 0 })
        r = try CLI.run(["latency", "--space", base + "/space.yaml", "--repeats", "2", "--calibrate", "2", "--validate", "0", "--out", base + "/float.json"])
        #expect(r.status == 0, "\(r.stderr)")
        // pare info prints what the table predicts, the figure a --max-latency budget compares.
        r = try CLI.run(["info", "--space", base + "/space.yaml", "--latency-table", base + "/float.json", "--arch", "16:shuffle3@1.0,xception@0.5"])
        let predicted = r.stdout.split(separator: "\n").filter { $0.contains("ms predicted (float32, batch 1") }
        #expect(r.status == 0 && predicted.count == 3 && predicted.last!.hasPrefix("arch:"), "\(r.stdout) \(r.stderr)")
        r = try CLI.run(["info", "--space", "reference", "--latency-table", base + "/float.json"])
        #expect(r.status == 1 && r.stderr.contains("measured for space 'small-shuffle'") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        r = try CLI.run(["latency", "--space", base + "/space.yaml", "--engine", "onednn", "--repeats", "2", "--calibrate", "2", "--validate", "2",
                         "--out", base + "/onednn.json"])
        #expect(r.status == 0 && r.stdout.contains("in float on oneDNN"), "\(r.stdout) \(r.stderr)")
        let onednn = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/onednn.json"))) as! [String: Any]
        #expect(onednn["precision"] as? String == "float32-onednn")

        r = try CLI.run(["train", "--space", base + "/space.yaml", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", base + "/run"])
        #expect(r.status == 0, "\(r.stderr)")
        let search = ["search", "--run", base + "/run", "--max-latency", "100ms", "--population", "4", "--generations", "1", "--parents", "2",
                      "--mutations", "1", "--crossovers", "1", "--calibration-images", "128", "--validation-images", "100"]
        r = try CLI.run(search + ["--latency-table", base + "/int8.json", "--int8"])
        #expect(r.status == 0 && r.stdout.contains("best:"), "\(r.stdout) \(r.stderr)")
        r = try CLI.run(search + ["--latency-table", base + "/onednn.json", "--name", "onednn"])
        #expect(r.status == 0 && r.stdout.contains("best:"), "\(r.stdout) \(r.stderr)")
        for (args, needle) in [(["--latency-table", base + "/int8.json"], "pass --int8"),
                               (["--latency-table", base + "/float.json", "--int8"], "pare latency --int8"),
                               (["--int8"], "--latency-table")] {
            r = try CLI.run(search + args + ["--name", "refused"])
            #expect(r.status == 1 && r.stderr.contains(needle) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
