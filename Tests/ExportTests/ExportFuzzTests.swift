import Export
import Foundation
import Networks
import Spaces
import Testing
import _TestSupport

/// Mutated weight files and model.json files: a typed `ModelFileError` or a loaded model
/// whose tensors match model.json — never a trap.
@Suite struct ExportFuzzTests {
    @Test func mutatedSafetensors() throws {
        var fuzz = Fuzzer(salt: 7)
        let tensors = [Safetensors.Tensor(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                       Safetensors.Tensor(name: "b", shape: [4], values: [-0.5, 0, 1, 2])]
        let good = [UInt8](Safetensors.encode(tensors, metadata: ["k": "v"]))
        let header = Int(good[0]) + 8
        let headerText = String(decoding: good[8..<header], as: UTF8.self)
        for i in 0..<fuzz.cases {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = fuzz.mutate(bytes: good, headerBytes: header)
            } else {
                // A mutated JSON header (shapes, offsets, dtypes) with a consistent length field.
                let json = Array(fuzz.mutate(text: headerText).utf8)
                var n = UInt64(json.count).littleEndian
                bytes = withUnsafeBytes(of: &n) { Array($0) } + json + Array(good[header...])
            }
            do {
                let (read, _) = try Safetensors.decode(Data(bytes), path: "fuzz.safetensors")
                for t in read.values { #expect(t.values.count == t.shape.reduce(1, *)) }
            } catch is ModelFileError {}
        }
    }

    @Test func mutatedModelJSON() throws {
        var fuzz = Fuzzer(salt: 8, defaultCases: 150)
        let (t, train, norm) = try trainedSupernet(steps: 2)
        let arch = t.config.space.smallest
        recalibrated(t, train, norm, arch)
        let tmp = TemporaryDirectory("fuzz-model")
        defer { withExtendedLifetime(tmp) {} }
        let dir = ModelDirectory(path: tmp.file("model"))
        try dir.write(model: try t.supernet!.extract(arch), normalization: norm, provenance: provenance, folded: false, onnx: false)
        let good = try String(contentsOfFile: dir.file(ModelDirectory.descriptionFile), encoding: .utf8)
        var loaded = 0
        for _ in 0..<fuzz.cases {
            try fuzz.mutate(text: good).write(toFile: dir.file(ModelDirectory.descriptionFile), atomically: true, encoding: .utf8)
            do {
                let (d, model) = try dir.load()
                #expect(model.stateTensors.map(\.shape) == d.tensors.map(\.shape))
                loaded += 1
            } catch let e as ModelFileError {
                #expect("\(e)".split(separator: "\n").count == 1)
            }
        }
        #expect(loaded < fuzz.cases)
    }
}
