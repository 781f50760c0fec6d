import Foundation
import Testing
import _TestSupport

/// A classic network trained, exported and pruned through the CLI on synthetic data.
@Suite struct PruneCLITests {
    static let space = """
        name: small-resnet
        input: {channels: 1, size: 28}
        classes: 10
        stem: {channels: 8, stride: 2}
        stages:
          - {blocks: 2, stride: 1, widths: [8], operators: [basic]}
          - {blocks: 2, stride: 2, widths: [16], operators: [basic]}
        head: {channels: 0}
        """

    @Test func trainExportPruneFinetuneAndResume() throws {
        let tmp = TemporaryDirectory("prune")
        defer { withExtendedLifetime(tmp) {} }
        let base = tmp.path
        tmp.file("space.yaml", Array(Self.space.utf8))
        let trained = try CLI.run(["train", "--space", base + "/space.yaml", "--data", "synthetic", "--epochs", "1", "--run", base + "/run"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("sampling uniform") || trained.stderr.contains("sampling uniform"), "a fixed network trains one path per step")
        let exported = try CLI.run(["export", "--run", base + "/run", "--out", base + "/model"])
        #expect(exported.status == 0, "\(exported.stderr)")

        let args = ["prune", base + "/model", "--method", "fpgm-weak", "--nu", "0.7", "--target-flops", "50%", "--rounds", "2",
                    "--finetune-epochs", "1", "--ema", "0.9", "--out", base + "/pruned", "--calibration-images", "256"]
        let pruned = try CLI.run(args + ["--onnx"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        // Both rounds' finetuning kept and wrote the weights' moving average.
        #expect(pruned.stderr.components(separatedBy: "moving average (decay 0.9)").count == 3, "\(pruned.stderr)")
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/pruned/model.json"))) as! [String: Any]
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/model/model.json"))) as! [String: Any]
        #expect((model["macs"] as! Int) * 2 <= original["macs"] as! Int)
        let record = model["pruning"] as! [String: Any]
        #expect(record["method"] as? String == "fpgm-weak" && record["round"] as? Int == 2 && record["nu"] as? Double == 0.7)
        let widths = record["widths"] as! [[String: Any]]
        #expect(widths.allSatisfy { ($0["after"] as! Int) >= 1 && ($0["after"] as! Int) <= ($0["before"] as! Int) })
        for f in ["model.safetensors", "model.onnx", "model.finetuned.safetensors", "rounds/round-1/model.finetuned.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: base + "/pruned/" + f), "\(f)")
        }
        let eval = try CLI.run(["eval", base + "/pruned", "--repeats", "2"])
        #expect(eval.status == 0 && eval.stdout.contains("accuracy"), "\(eval.stderr)")

        // Done rounds are not redone; another target is refused, as is a second prune into OUT.
        let again = try CLI.run(args + ["--resume"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!again.stderr.contains("round 1/2"))
        let other = try CLI.run(["prune", base + "/model", "--method", "l1", "--target-flops", "50%", "--rounds", "2", "--out", base + "/pruned", "--resume"])
        #expect(other.status == 1 && other.stderr.contains("--resume needs the same --method"), "\(other.stderr)")
        let twice = try CLI.run(args)
        #expect(twice.status == 1 && twice.stderr.contains("already holds a model"), "\(twice.stderr)")
        // An unreachable target names the smallest reachable cost, before writing anything.
        let tiny = try CLI.run(["prune", base + "/model", "--target-params", "10", "--out", base + "/tiny"])
        #expect(tiny.status == 1 && tiny.stderr.contains("error: target 10 parameters is below the smallest reachable"), "\(tiny.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/tiny"))
        let unaveraged = try CLI.run(["prune", base + "/model", "--target-flops", "50%", "--ema", "0.9", "--out", base + "/no-finetune"])
        #expect(unaveraged.status != 0 && unaveraged.stderr.contains("--ema averages the weights of the finetuning: add --finetune-epochs")
                && unaveraged.stderr.split(separator: "\n").count == 1, "\(unaveraged.stderr)")

        // Soft pruning while finetuning: masked every epoch, removed at the end.
        let soft = try CLI.run(["finetune", base + "/model", "--soft-prune", "l1", "--rate", "0.3", "--epochs", "2", "--run", base + "/soft-run",
                                "--pruned-out", base + "/soft"])
        #expect(soft.status == 0, "\(soft.stderr)")
        #expect(soft.stderr.contains("epoch 2: soft mask zeroes"), "\(soft.stderr)")
        let softModel = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/soft/model.json"))) as! [String: Any]
        #expect((softModel["macs"] as! Int) < (original["macs"] as! Int))
        #expect((softModel["pruning"] as! [String: Any])["method"] as? String == "soft-l1")
        // ... to a MACs target instead of a rate; a target below every minimum width is refused before training.
        let softTarget = try CLI.run(["finetune", base + "/model", "--soft-prune", "fpgm", "--target-flops", "60%", "--epochs", "1",
                                      "--run", base + "/soft-target-run", "--pruned-out", base + "/soft-target"])
        #expect(softTarget.status == 0 && softTarget.stderr.contains("at most"), "\(softTarget.stderr)")
        let targeted = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/soft-target/model.json"))) as! [String: Any]
        #expect((targeted["macs"] as! Int) * 10 <= (original["macs"] as! Int) * 6 && (targeted["macs"] as! Int) * 10 > (original["macs"] as! Int) * 4)
        let softTiny = try CLI.run(["finetune", base + "/model", "--soft-prune", "l1", "--target-params", "10", "--epochs", "1",
                                    "--run", base + "/soft-tiny-run", "--pruned-out", base + "/soft-tiny"])
        #expect(softTiny.status == 1 && softTiny.stderr.contains("error: target 10 parameters is below the smallest reachable"), "\(softTiny.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/soft-tiny-run/checkpoints/ckpt-000000001.bin"))

        // Prune by search: reorder, width-only supernet, evolutionary search, export.
        let search = ["prune", base + "/model", "--method", "search", "--target-params", "60%", "--out", base + "/searched", "--search-epochs", "1",
                      "--population", "4", "--generations", "1", "--calibration-images", "128", "--validation-images", "200"]
        let searched = try CLI.run(search)
        #expect(searched.status == 0, "\(searched.stderr)")
        let best = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/searched/model.json"))) as! [String: Any]
        #expect((best["parameters"] as! Int) * 10 <= (original["parameters"] as! Int) * 6)
        #expect(((best["pruning"] as! [String: Any])["method"] as! String).hasPrefix("search"))
        let resumed = try CLI.run(search + ["--resume"])
        #expect(resumed.status == 0 && (try? String(contentsOfFile: base + "/searched/supernet/search/best.txt", encoding: .utf8)) != nil, "\(resumed.stderr)")
    }
}
