import Datasets
import Foundation
import Testing
import _TestSupport

/// A user's round trip outside Pare: train on MNIST-format files, export, and rebuild the
/// model from model.json + safetensors with tools/pare_model.py (numpy), which must make
/// `pare eval`'s predictions image for image — for the exported and the finetuned weights,
/// whose ONNX and folded files `pare export --model` writes afterwards.
@Suite struct ReferenceLoaderCLITests {
    /// Synthetic 28x28 images of 10 classes written as the four MNIST IDX files.
    func writeMNIST(into dir: TemporaryDirectory) throws {
        var spec = SyntheticSpec()
        spec.trainCount = 1400; spec.testCount = 300
        let (train, test) = try DataSource.synthetic(spec).load()
        for (stem, d) in [("train", train), ("t10k", test)] {
            dir.file("\(stem)-images-idx3-ubyte", IDXArray(dimensions: [d.count, d.height, d.width], bytes: d.pixelBytes).encoded())
            dir.file("\(stem)-labels-idx1-ubyte", IDXArray(dimensions: [d.count], bytes: d.labels.map { UInt8($0) }).encoded())
        }
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func numpyLoaderMakesEvalsPredictions() throws {
        guard let python = testPython() else {
            Issue.record("no Python with numpy: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let base = TemporaryDirectory("loader-cli")
        defer { withExtendedLifetime(base) {} }
        let data = TemporaryDirectory("mnist")
        defer { withExtendedLifetime(data) {} }
        try writeMNIST(into: data)
        let run = base.file("run"), model = base.file("model")
        var r = try CLI.run(["train", "--space", "reference", "--data", "mnist:" + data.path, "--epochs", "1", "--probes", "0",
                             "--validation", "200", "--run", run])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["export", "--run", run, "--arch", "32/64/128:xception@0.6,shuffle5@1.0,shuffle7@0.4,xception@1.2,shuffle3@2.0,shuffle5@0.2",
                         "--out", model, "--calibration-images", "256"])
        #expect(r.status == 0, "\(r.stderr)")
        let tool = repositoryFile("tools/pare_model.py")
        let images = data.file("t10k-images-idx3-ubyte")

        r = try CLI.run(["eval", model, "--weights", "exported", "--predictions", base.file("exported.csv"), "--repeats", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        var check = try runProgram(python, [tool, model, "--idx", images, "--check", base.file("exported.csv")])
        #expect(check.status == 0 && check.output.contains("300 images") && check.output.contains("0 clear predictions differ"), "\(check.output)")

        r = try CLI.run(["finetune", model, "--epochs", "1", "--lr", "0.02"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["eval", model, "--weights", "finetuned", "--predictions", base.file("finetuned.csv"), "--repeats", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        check = try runProgram(python, [tool, model, "--weights", "model.finetuned.safetensors", "--idx", images, "--check", base.file("finetuned.csv")])
        #expect(check.status == 0 && check.output.contains("0 clear predictions differ"), "\(check.output)")
        // The exported weights' predictions differ from the finetuned ones: the check is not vacuous.
        check = try runProgram(python, [tool, model, "--idx", images, "--check", base.file("finetuned.csv")])
        #expect(check.status == 1, "\(check.output)")

        // ONNX and folded files of the finetuned weights, recorded in model.json.
        r = try CLI.run(["export", "--model", model, "--weights", "finetuned", "--onnx", "--folded"])
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["model.finetuned.onnx", "model.finetuned.folded.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: model + "/" + f), "\(f)")
        }
        let files = try #require(try json(model + "/model.json")["files"] as? [[String: String]])
        let byFile = Dictionary(uniqueKeysWithValues: files.map { ($0["file"]!, $0) })
        #expect(byFile["model.safetensors"]?["weights"] == "exported")
        #expect(byFile["model.finetuned.safetensors"]?["weights"] == "finetuned")
        #expect(byFile["model.finetuned.onnx"] == ["file": "model.finetuned.onnx", "content": "onnx", "weights": "finetuned"])
        #expect(byFile["model.finetuned.folded.safetensors"]?["content"] == "folded_weights")
        r = try CLI.run(["export", "--model", model])
        #expect(r.status != 0 && r.stderr.contains("--model needs --onnx and/or --folded"), "\(r.stderr)")
    }
}
