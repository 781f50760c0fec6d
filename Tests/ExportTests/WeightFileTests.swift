import Datasets
import Export
import Foundation
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("Weight files") struct WeightFileTests {
    /// An exported model in `tmp`.
    func exported(in tmp: TemporaryDirectory) throws -> ModelDirectory {
        let (t, _, norm) = try trainedSupernet(steps: 2)
        let model = try t.supernet!.extract(t.config.space.smallest)
        let dir = ModelDirectory(path: tmp.file("model"))
        try dir.write(model: model, normalization: norm, provenance: provenance, folded: false, onnx: false)
        return dir
    }

    @Test("safetensors round trip and layout: 8-byte length, JSON header, aligned data")
    func safetensorsRoundTrip() throws {
        let tensors = [Safetensors.Tensor(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                       Safetensors.Tensor(name: "b", shape: [1], values: [-0.5])]
        let data = Safetensors.encode(tensors, metadata: ["k": "v"])
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0 && data.count == 8 + n + 28)
        let (read, meta) = try Safetensors.decode(data, path: "x.safetensors")
        #expect(read["a.weight"] == tensors[0] && read["b"] == tensors[1] && meta["k"] == "v")
    }

    @Test("truncated, corrupt, missing, extra and misshapen tensors are typed errors naming file and tensor")
    func badFiles() throws {
        let tmp = TemporaryDirectory("weights")
        defer { withExtendedLifetime(tmp) {} }
        let dir = try exported(in: tmp)
        let path = dir.file(ModelDirectory.weightsFile)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func expectLoadError(_ data: Data, _ check: (ModelFileError) -> Bool) throws {
            try data.write(to: URL(fileURLWithPath: path))
            do {
                _ = try dir.load()
                Issue.record("load succeeded on a bad file")
            } catch let e as ModelFileError {
                #expect(check(e), "\(e)")
                #expect(e.description.hasPrefix(path))
            }
        }
        try expectLoadError(good.prefix(good.count - 10)) { if case .truncated(_, let t, _, _) = $0 { return !t.isEmpty } else { return false } }
        try expectLoadError(good.prefix(5)) { if case .corrupt = $0 { return true } else { return false } }
        var flipped = good
        flipped[flipped.count - 3] ^= 0x40
        try expectLoadError(flipped) { if case .checksum = $0 { return true } else { return false } }
        var header = good
        header[12] = 0x7B  // '{' inside the JSON: no longer an object
        try expectLoadError(header) { if case .corrupt = $0 { return true } else { return false } }

        var (tensors, _) = try Safetensors.decode(good, path: path)
        let victim = "fc.bias"
        let all = tensors.values.sorted { $0.name < $1.name }
        try expectLoadError(Safetensors.encode(all.filter { $0.name != victim })) { $0 == .missingTensor(path: path, tensor: victim) }
        try expectLoadError(Safetensors.encode(all + [.init(name: "extra", shape: [1], values: [0])])) { $0 == .unexpectedTensor(path: path, tensor: "extra") }
        tensors[victim] = .init(name: victim, shape: [2, 2], values: [0, 0, 0, 0])
        try expectLoadError(Safetensors.encode(tensors.values.sorted { $0.name < $1.name })) {
            $0 == .shapeMismatch(path: path, tensor: victim, expected: [4], found: [2, 2])
        }
        try good.write(to: URL(fileURLWithPath: path))
        _ = try dir.load()

        // model.json disagreeing with the architecture, or broken.
        let jsonPath = dir.file(ModelDirectory.descriptionFile)
        let json = try String(contentsOfFile: jsonPath, encoding: .utf8)
        try json.replacingOccurrences(of: "\"fc.weight\"", with: "\"fc.w\"").write(toFile: jsonPath, atomically: true, encoding: .utf8)
        #expect(throws: ModelFileError.self) { _ = try dir.load() }
        try "{\"format\": \"pare-model\"}".write(toFile: jsonPath, atomically: true, encoding: .utf8)
        do { _ = try dir.load(); Issue.record("loaded a model.json without fields") } catch let e as ModelFileError {
            #expect(e.description.contains("model.json: field '"), "\(e)")
        }
    }
}
