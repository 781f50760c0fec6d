import Foundation
import Runs
import Testing
import _TestSupport

/// Every defect found by treating `pare` as a hostile user would, reached the way it was
/// reached: through the CLI. Each must end in one line on stderr and exit status 1 — never
/// a signal, a hang or a poisoned file.
@Suite struct HostileInputCLITests {
    let space = repositoryFile("search-spaces/fmnist-shufflenet.yaml")

    /// One line naming what is wrong, status 1.
    func expectOneLineError(_ args: [String], contains: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(args)
        #expect(r.status == 1, "status \(r.status) for \(args.joined(separator: " ").prefix(120)): \(r.stderr.prefix(300))", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1 && r.stderr.count < 600,
                 "\(r.stderr.prefix(600))", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(contains), "\(r.stderr.prefix(600))", sourceLocation: sourceLocation)
    }

    func spaceText(replacing old: String, with new: String) throws -> String {
        let text = try String(contentsOfFile: space, encoding: .utf8)
        #expect(text.contains(old))
        return text.replacingOccurrences(of: old, with: new)
    }

    @Test func nonFiniteAndHugeNumbers() throws {
        for ratio in ["nan", "inf", "-inf", "1e300"] {
            try expectOneLineError(["info", "--space", space, "--arch", "32/64/128:shuffle3@\(ratio),xception@0.4,shuffle7@2.0,shuffle5@1.0,xception@1.0,shuffle3@0.6"],
                                   contains: "ratio '\(ratio)'")
        }
        let tmp = TemporaryDirectory("hostile")
        defer { withExtendedLifetime(tmp) {} }
        let nanSpace = tmp.file("nan.yaml", Array(try spaceText(replacing: "middle_ratios: [0.2, 0.4", with: "middle_ratios: [.nan, 0.4").utf8))
        try expectOneLineError(["info", "--space", nanSpace], contains: "stages[0].middle_ratios[0]")
        try expectOneLineError(["train", "--space", space, "--data", "synthetic", "--run", tmp.file("band"), "--sampling", "flops-band:1e19-2e19"],
                               contains: "--sampling")
        // A 100 KB architecture text is quoted, not echoed.
        try expectOneLineError(["info", "--space", space, "--arch", "32/64/128:" + String(repeating: "x", count: 100_000)], contains: "characters")
        let run = tmp.file("run")
        let r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        try expectOneLineError(["search", "--run", run, "--max-flops", "1e19"], contains: "--max-flops")
        try expectOneLineError(["search", "--run", run, "--max-params", "1e19"], contains: "--max-params")
        try expectOneLineError(["search", "--run", run, "--max-flops", "3M", "--validation-images", "0"], contains: "--validation-images")
        try expectOneLineError(["search", "--run", run, "--max-flops", "3M", "--min-flops", "4M"], contains: "MACs floor 4000000 is above the MACs limit")
        try expectOneLineError(["search", "--run", run, "--min-flops", "40M"], contains: "MACs floor 40000000 is above the largest candidate's")
        try expectOneLineError(["search", "--run", run, "--min-params", "10M"], contains: "params floor 10000000 is above the largest candidate's")
        try expectOneLineError(["search", "--run", run, "--max-params", "80K", "--min-params", "90K"], contains: "params floor 90000 is above the params limit 80000")
        try expectOneLineError(["search", "--run", run, "--max-flops", "3M", "--calibration-images=-5"], contains: "--calibration-images")
        try expectOneLineError(["search", "--run", run, "--max-flops", "3M", "--top=-1"], contains: "--top")
        try expectOneLineError(["train", "--run", run, "--resume", "--weight-decay", "nan", "--override-config"], contains: "--weight-decay")
    }

    @Test func supernetOptionsAreCheckedUpFront() throws {
        let tmp = TemporaryDirectory("hostile-options")
        defer { withExtendedLifetime(tmp) {} }
        let base = ["train", "--space", "reference", "--data", "synthetic", "--run", tmp.file("r")]
        try expectOneLineError(base + ["--kernel-sharing", "elastic"], contains: "none, crop or transform")
        // Padding beyond the 28-pixel input would crop padding only (and size a huge buffer).
        try expectOneLineError(base + ["--crop-padding", "100000"], contains: "--crop-padding must be between 0 and the input size (28 pixels)")
        try expectOneLineError(base + ["--progressive", "3,2,1"], contains: "0 <= K <= W <= O")
        try expectOneLineError(base + ["--progressive", "1,2,5", "--epochs", "3"], contains: "--progressive 1,2,5")
        try expectOneLineError(base + ["--warmup-epochs", "20", "--epochs", "3"], contains: "--warmup-epochs")
        try expectOneLineError(base + ["--sampling", "distill:99"], contains: "distill")
        try expectOneLineError(base + ["--pruning-net", "maybe"], contains: "pruning-net")
        try expectOneLineError(base + ["--sort-channels", "l1"], contains: "name the epoch (l1@2) or give --progressive")
        try expectOneLineError(base + ["--sort-channels", "l3@1"], contains: "CRITERION[@EPOCH]")
        try expectOneLineError(base + ["--sort-channels", "l1@3", "--epochs", "3"], contains: "epoch 3 is not in 1...2")
        try expectOneLineError(base + ["--sort-channels", "fpgm@1", "--pruning-net", "true"], contains: "PruningNet")
        try expectOneLineError(base + ["--erase", "1.5"], contains: "--erase must be a probability")
        try expectOneLineError(base + ["--erase", "nan"], contains: "--erase must be a probability")
        try expectOneLineError(base + ["--crop-padding=-2"], contains: "--crop-padding")
        // Nothing was started by any of them.
        let checkpoints = (try? FileManager.default.contentsOfDirectory(atPath: tmp.file("r") + "/checkpoints")) ?? []
        #expect(checkpoints.isEmpty)
    }

    @Test func oversizedSpacesAndEmptyDataSources() throws {
        let tmp = TemporaryDirectory("hostile")
        defer { withExtendedLifetime(tmp) {} }
        let wide = tmp.file("wide.yaml", Array(try spaceText(replacing: "widths: [24, 32]", with: "widths: [96, 4000000000]").utf8))
        try expectOneLineError(["info", "--space", wide], contains: "stages[0].widths[1]")
        let headSpace = tmp.file("head.yaml", Array(try spaceText(replacing: "head: {channels: 256}", with: "head: {channels: 1000000000}").utf8))
        try expectOneLineError(["info", "--space", headSpace], contains: "head.channels")
        // "Billion laughs": ten levels of nine aliases each.
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...10 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        try expectOneLineError(["info", "--space", tmp.file("bomb.yaml", Array(bomb.utf8))], contains: "aliases")
        for data in [":", ""] {
            try expectOneLineError(["train", "--space", "reference", "--data", data, "--run", tmp.file("d\(data.count)")], contains: "data")
        }
    }

    @Test func craftedDataFiles() throws {
        let tmp = TemporaryDirectory("hostile-data")
        defer { withExtendedLifetime(tmp) {} }
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 10] + [UInt8](repeating: 1, count: 10)
        // Dimensions 0xFFFFFFFF x 3 x 3: the size overflows no integer and allocates nothing.
        let huge = tmp.file("huge/train-images-idx3-ubyte", [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 3, 0, 0, 0, 3] + [UInt8](repeating: 0, count: 64))
        _ = huge
        tmp.file("huge/train-labels-idx1-ubyte", labels)
        try expectOneLineError(["train", "--space", "reference", "--data", "mnist:" + tmp.file("huge"), "--run", tmp.file("r1")], contains: "train-images-idx3-ubyte")
        // A gzip bomb: the header promises 10 images of 28x28, the stream inflates to 64 MiB.
        var bomb: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]
        bomb += [UInt8](repeating: 0, count: 64 << 20)
        let raw = tmp.file("bomb/train-images-idx3-ubyte", bomb)
        _ = tmp.gzip(raw)
        try FileManager.default.removeItem(atPath: raw)
        tmp.file("bomb/train-labels-idx1-ubyte", labels)
        try expectOneLineError(["train", "--space", "reference", "--data", "mnist:" + tmp.file("bomb"), "--run", tmp.file("r2")], contains: "larger than the 7856 bytes")
    }

    @Test func storedConfigurationsAreValidated() throws {
        let tmp = TemporaryDirectory("hostile-stored")
        defer { withExtendedLifetime(tmp) {} }
        let run = tmp.file("run"), model = tmp.file("model")
        var r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["export", "--run", run, "--arch", "32/64/128:shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0",
                         "--out", model, "--calibration-images", "128"])
        #expect(r.status == 0, "\(r.stderr)")
        let modelJSON = try String(contentsOfFile: model + "/model.json", encoding: .utf8)
        func withModelJSON(_ edit: (String) -> String, contains: String) throws {
            try edit(modelJSON).write(toFile: model + "/model.json", atomically: true, encoding: .utf8)
            try expectOneLineError(["eval", model, "--repeats", "1"], contains: contains)
        }
        try withModelJSON({ $0.replacingOccurrences(of: "\"stride\" : 2", with: "\"stride\" : 0") }, contains: "stride")
        try withModelJSON({ $0.replacingOccurrences(of: "\"channels\" : 256\n    },\n    \"inputChannels\"", with: "\"channels\" : 1000000000\n    },\n    \"inputChannels\"") }, contains: "head.channels")
        try withModelJSON({ $0.replacingOccurrences(of: "{\n  \"architecture\"", with: "{\n  \"classes\" : 5, \"architecture\"").replacingOccurrences(of: "\n  \"classes\" : 10,", with: "") }, contains: "classes")
        try withModelJSON({ $0.replacingOccurrences(of: "shuffle3@1.0,shuffle3@1.0,shuffle3@1.0", with: "shuffle3@nan,shuffle3@1.0,shuffle3@1.0") }, contains: "architecture")
        try modelJSON.write(toFile: model + "/model.json", atomically: true, encoding: .utf8)
        // Weight files whose sizes overflow: shape [2^62, 4], offsets [1, -2^63].
        let weights = model + "/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: weights))
        for crafted in [#"{"fc.bias":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,40]}}"#,
                        #"{"fc.bias":{"dtype":"F32","shape":[10],"data_offsets":[1,-9223372036854775808]}}"#] {
            var n = UInt64(crafted.utf8.count).littleEndian
            let bytes = withUnsafeBytes(of: &n) { Data($0) } + Data(crafted.utf8) + Data(count: 40)
            try bytes.write(to: URL(fileURLWithPath: weights))
            try expectOneLineError(["eval", model, "--weights", "exported", "--repeats", "1"], contains: "model.safetensors")
        }
        try original.write(to: URL(fileURLWithPath: weights))
        // A checkpoint with a valid checksum whose section offset is 2^63 - 1: refused, and
        // the older checkpoint is used.
        let newest = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").sorted().last!
        let (header, payload) = try CheckpointFile.decode(try Data(contentsOf: URL(fileURLWithPath: run + "/checkpoints/" + newest)), path: newest)
        let headerText = String(decoding: header, as: UTF8.self)
        let craftedHeader = headerText.replacingOccurrences(of: #""offset":0}"#, with: #""offset":9223372036854775807}"#)
        let crafted = craftedHeader != headerText
        #expect(crafted)
        try CheckpointFile.encode(header: Data(craftedHeader.utf8), payload: payload)
            .write(to: URL(fileURLWithPath: run + "/checkpoints/ckpt-999999999.bin"))
        r = try CLI.run(["export", "--run", run, "--arch", "32/64/128:shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0",
                         "--out", tmp.file("model2"), "--calibration-images", "128"])
        #expect(r.status == 0 && r.stderr.contains("ckpt-999999999.bin: unusable checkpoint (section") && r.stderr.contains("outside the payload"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: run + "/checkpoints/ckpt-999999999.bin")
        // run.json with a width of 4e9: refused before anything is allocated.
        let runJSON = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
        try runJSON.replacingOccurrences(of: "128\n", with: "4000000000\n").write(toFile: run + "/run.json", atomically: true, encoding: .utf8)
        try expectOneLineError(["train", "--run", run, "--resume"], contains: "run.json")
    }

    @Test func divergenceNeverPoisonsTheNewestCheckpoint() throws {
        let tmp = TemporaryDirectory("hostile-diverge")
        defer { withExtendedLifetime(tmp) {} }
        let run = tmp.file("run")
        var r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--lr", "1e6",
                             "--checkpoint-every", "1", "--keep", "20", "--run", run])
        #expect(r.status == 1 && r.stderr.contains("training diverged") && r.stderr.contains("last finite state"), "\(r.stderr)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.hasSuffix(".bin") }.sorted()
        #expect(!checkpoints.isEmpty)
        // Every checkpoint on disk holds only finite values: each one alone is loaded by
        // `pare export` (which refuses a non-finite state with a warning) without complaint.
        for (i, name) in checkpoints.enumerated() {
            let alone = tmp.file("alone\(i)")
            try FileManager.default.createDirectory(atPath: alone + "/checkpoints", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: run + "/run.json", toPath: alone + "/run.json")
            try FileManager.default.copyItem(atPath: run + "/checkpoints/" + name, toPath: alone + "/checkpoints/" + name)
            let e = try CLI.run(["export", "--run", alone, "--arch", "32/64/128:shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0,shuffle3@1.0",
                                 "--out", alone + "/model", "--calibration-images", "128"])
            #expect(e.status == 0 && !e.stderr.contains("warning"), "\(name): \(e.stderr)")
        }
        // Every checkpoint on disk loads (loading refuses non-finite values) and resuming
        // starts from the newest one, the last finite state.
        r = try CLI.run(["train", "--run", run, "--resume", "--lr", "0.001", "--override-config"])
        #expect(r.stderr.contains("resumed from") || r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("trying an older checkpoint"), "\(r.stderr)")
        #expect(r.stderr.contains(checkpoints.last!), "resumes from the newest: \(r.stderr)")
    }
}
