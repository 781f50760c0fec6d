import Foundation
import Testing

/// End-to-end runs of the built `pare` binary (it sits next to the test bundle).
struct CLI {
    static var binary: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("pare")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/release/pare")
    }

    static func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A small architecture of the reference space (1.3 M MACs).
    static let small = "32/64/128:shuffle3@0.4,shuffle3@0.4,shuffle3@0.4,shuffle3@0.4,shuffle3@0.4,shuffle3@0.4"

    /// The finetune tests' start: a 1-epoch reference supernet on synthetic data in
    /// BASE/run, and each (architecture, name) exported from it to BASE/name.
    static func exportedModels(_ base: String, _ models: [(arch: String, name: String)]) throws {
        var r = try run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "1", "--probes", "0", "--run", base + "/run"])
        #expect(r.status == 0, "\(r.stderr)")
        for (arch, name) in models {
            r = try run(["export", "--run", base + "/run", "--arch", arch, "--out", base + "/" + name, "--calibration-images", "256"])
            #expect(r.status == 0, "\(r.stderr)")
        }
    }
}

@Suite struct CLITests {
    @Test func badDataGivesOneLineAndNonZeroExit() throws {
        let dir = NSTemporaryDirectory() + "pare-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Missing directory.
        var r = try CLI.run(["train", "--space", "reference", "--data", "mnist:\(dir)/none", "--run", dir + "/run"])
        #expect(r.status == 1)
        #expect(r.stderr == "error: \(dir)/none/train-images-idx3-ubyte.gz: file not found\n")
        // Truncated images file: header says 10 images of 28x28, payload shorter.
        var header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]
        header += [UInt8](repeating: 7, count: 100)
        _ = FileManager.default.createFile(atPath: dir + "/train-images-idx3-ubyte", contents: Data(header))
        _ = FileManager.default.createFile(atPath: dir + "/train-labels-idx1-ubyte", contents: Data([0, 0, 8, 1, 0, 0, 0, 10] + [UInt8](repeating: 1, count: 10)))
        r = try CLI.run(["train", "--space", "reference", "--data", "mnist:\(dir)", "--run", dir + "/run2"])
        #expect(r.status == 1)
        #expect(r.stderr == "error: \(dir)/train-images-idx3-ubyte: truncated, expected 7856 bytes, found 116\n")
        r = try CLI.run(["train", "--space", "reference", "--data", "imagenet", "--run", dir + "/run3"])
        #expect(r.status == 1 && r.stderr.hasPrefix("error: data: unknown data source 'imagenet'"))
        r = try CLI.run(["bench", "--rows", "nope"])
        #expect(r.status == 1 && r.stderr.contains("--rows: unknown row 'nope'"))
        // Every row the help names is known (train_options once was not): the refusal names the unknown one.
        r = try CLI.run(["bench", "--rows", "sgemm, train_options,nope"])
        #expect(r.status == 1 && r.stderr.contains("--rows: unknown row 'nope'"))
    }

    @Test func trainRunsEndToEndOnSyntheticData() throws {
        let dir = NSTemporaryDirectory() + "pare-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["train", "--space", "reference", "--data", "synthetic", "--epochs", "2", "--probes", "1", "--run", dir,
                             "--sort-channels", "l1@1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("smallest") && r.stdout.contains("largest") && r.stdout.contains("random0"))
        #expect(r.stderr.contains("epoch 2: channels sorted by l1 importance"), "\(r.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        #expect(summary["steps"] as? Int == 2 * (1024 / 128))   // half the 2048 synthetic images held out, drop last
        let lines = try String(contentsOfFile: dir + "/train.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("\"kind\":\"step\"") }.count == summary["steps"] as? Int)
        #expect(lines.filter { $0.contains("\"kind\":\"epoch\"") }.count == 2)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run.json"))) as! [String: Any]
        #expect(config["epochs"] as? Int == 2 && config["data"] as? String == "synthetic")
        #expect((config["channelSorting"] as? [String: Any])?["epoch"] as? Int == 1)
    }

    @Test func benchJSONHasThePeerKeys() throws {
        let r = try CLI.run(["bench", "--json", "--repeats", "1", "--rows", "train_smallest,eval_largest,recal_random"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for key in ["train_smallest", "eval_largest_bs500", "recal_random_s"] {
            let row = json[key] as? [String: Any]
            #expect((row?["median"] as? Double ?? 0) > 0, "\(key)")
        }
        #expect((json["blas_core"] as? String) != "Prescott")
    }
}
