import Datasets
import Export
import Foundation
import Networks
import Quantization
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("int8 models") struct QuantizedExportTests {
    /// A briefly trained subnet's folded graph, its int8 version calibrated on the training
    /// images, and 400 further images of the same classes to check on.
    func quantized(classic: Bool, observer: RangeObserver = .minmax, powerOfTwo: Bool = false) throws -> (QuantizedGraph, ImageSource) {
        let (t, train, norm) = try trainedSupernet(steps: 15, classic: classic)
        let space = t.config.space
        let arch = classic ? try Architecture(parsing: "6/12:basic@1.0,conv3@1.0,basic@0.5,dwsep5@1.0", space: space)
                           : try Architecture(parsing: "8/16:xception@1.0,shuffle3@1.5,mbconv5_e6@1.0,mbconv3_e3@0.5", space: space)
        recalibrated(t, train, norm, arch)
        let model = try t.supernet!.extract(arch)
        let graph = try model.inferenceGraph(arch, mean: norm.mean, std: norm.std).foldingInputNormalization()
        let q = try Calibration.quantize(graph, images: ImageSource(dataset: train), settings: QuantizationSettings(observer: observer, powerOfTwo: powerOfTwo),
                                         engine: Engine(threads: 2))
        var spec = SyntheticSpec()
        spec.height = 12; spec.width = 12; spec.classes = 4; spec.trainCount = 10; spec.testCount = 400
        return (q, ImageSource(dataset: try DataSource.synthetic(spec).load().test))
    }

    @Test("int8 predictions follow the float model's for every observer and grid kind", arguments: [false, true])
    func int8FollowsFloat(classic: Bool) throws {
        for (observer, powerOfTwo) in [(RangeObserver.minmax, false), (.percentile, false), (.kl, false), (.minmax, true)] {
            let (q, images) = try quantized(classic: classic, observer: observer, powerOfTwo: powerOfTwo)
            let a = try QuantizedEvaluation.accuracy(q, images: images, engine: Engine(threads: 2))
            #expect(a.agreement >= 0.9, "\(observer) pow2 \(powerOfTwo): \(a)")
            let errors = QuantizedEvaluation.layerErrors(q, images: ImageSource(dataset: images.dataset, indices: Array(0..<50)))
            #expect(errors.last!.sqnr > 15, "\(observer) pow2 \(powerOfTwo): logits SQNR \(errors.last!.sqnr)")
            if powerOfTwo { #expect(q.layers.values.allSatisfy { $0.weights.scales.allSatisfy { $0.significandBitPattern == 0 } }) }
        }
    }

    @Test("oneDNN's int8 path equals the Swift integer reference exactly, every activation and the logits", arguments: [false, true])
    func dnnlEqualsReference(classic: Bool) throws {
        for (observer, powerOfTwo) in [(RangeObserver.minmax, false), (.kl, false), (.percentile, true)] {
            let (q, images) = try quantized(classic: classic, observer: observer, powerOfTwo: powerOfTwo)
            let dnnl = try DNNLExecutor(q)
            for n in [1, 37] {
                let pixels = images.pixels(0..<n)
                var reference: [Int: [UInt8]] = [:], fast: [Int: [UInt8]] = [:]
                let a = IntegerExecutor.run(q, input: pixels, batch: n) { reference[$0] = $1 }
                let b = try dnnl.run(pixels, batch: n) { fast[$0] = $1 }
                #expect(a == b, "\(observer) pow2 \(powerOfTwo) batch \(n): logits")
                for id in reference.keys.sorted() where reference[id] != fast[id] {
                    let diff = zip(reference[id]!, fast[id]!).filter { $0 != $1 }.count
                    Issue.record("\(observer) pow2 \(powerOfTwo) batch \(n): value \(id) (\(q.graph.nodes[max(id - 1, 0)].name)) differs in \(diff) of \(reference[id]!.count)")
                    break
                }
            }
        }
    }

    @Test("the float graph on oneDNN (NHWC) computes the float executor's logits", arguments: [false, true])
    func dnnlFloat(classic: Bool) throws {
        let (q, images) = try quantized(classic: classic)
        let dnnl = try DNNLFloatExecutor(q.graph)
        for n in [1, 23] {
            let x = images.floats(0..<n)
            let a = FloatExecutor.run(q.graph, input: x, batch: n), b = try dnnl.run(x, batch: n)
            let scale = max(1, a.map(abs).max()!)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "batch \(n): \(zip(a, b).map { abs($0 - $1) }.max()!)")
        }
    }

    @Test("model.int8.safetensors: written and read back to the same integer model; damage is a typed error naming file and tensor")
    func int8File() throws {
        let (q, images) = try quantized(classic: false)
        let tmp = TemporaryDirectory("int8")
        defer { withExtendedLifetime(tmp) {} }
        let path = tmp.file("model.int8.safetensors")
        try Int8ModelFile.write(q, metadata: ["architecture": "test"], to: path)
        let back = try Int8ModelFile.read(path, graph: q.graph)
        #expect(back.activations == q.activations && back.layers == q.layers && back.settings == q.settings)
        let pixels = images.pixels(0..<20)
        #expect(IntegerExecutor.run(back, input: pixels, batch: 20) == IntegerExecutor.run(q, input: pixels, batch: 20))

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelFileError.self) { _ = try Int8ModelFile.read(path, graph: q.graph) }
        do { _ = try Int8ModelFile.read(path, graph: q.graph) } catch let e as ModelFileError {
            guard case let .truncated(p, tensor, _, _) = e else { Issue.record("\(e)"); return }
            #expect(p == path && !tensor.isEmpty)
        }
        var flipped = bytes
        flipped[flipped.count - 3] ^= 0x40
        try flipped.write(to: URL(fileURLWithPath: path))
        do { _ = try Int8ModelFile.read(path, graph: q.graph); Issue.record("a flipped byte was read") } catch let e as ModelFileError {
            guard case let .checksum(p, tensor) = e else { Issue.record("\(e)"); return }
            #expect(p == path && e.description.contains(tensor))
        }
        // A file for another network: the first tensor it lacks is named.
        var other = q.graph
        other.nodes[0].name = "renamed"
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelFileError.missingTensor(path: path, tensor: "renamed.output.scale")) { _ = try Int8ModelFile.read(path, graph: other) }
    }

    @Test("onnxruntime runs model.int8.onnx (QDQ) to Pare's int8 predictions", arguments: [false, true])
    func onnxRuntimeInt8(classic: Bool) throws {
        guard let python = testPython() else {
            Issue.record("no Python with onnxruntime: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let (q, images) = try quantized(classic: classic)
        let tmp = TemporaryDirectory("int8-onnx")
        defer { withExtendedLifetime(tmp) {} }
        let n = images.count
        try AtomicFile.write(ONNXExport.encode(q, producerVersion: "1"), to: tmp.file("model.int8.onnx"))
        let expected = IntegerExecutor.run(q, input: images.pixels(0..<n), batch: n)
        try images.floats(0..<n).withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("input.f32")))
        try expected.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("expected.f32")))
        let (status, text) = try runProgram(python, [repositoryFile("scripts/check_onnx_int8.py"), tmp.file("model.int8.onnx"), tmp.file("input.f32"),
                                                     tmp.file("expected.f32"), "\(n)", "1", "12", "12", "4"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("argmax agreement"), "\(text)")
    }
}

/// Colour images: the folded normalization pads each channel with its own mean (Sub → Pad →
/// Add in ONNX, a pad value per channel in the int8 model, an NHWC input transposition).
@Suite("int8 models of 3-channel images") struct ColourQuantizationTests {
    @Test func foldedFloatAndInt8AgreeEverywhere() throws {
        let space = try SpaceFile.parse("""
            name: tiny-colour
            input: {channels: 3, size: 12}
            classes: 4
            stem: {channels: 6}
            stages:
              - {blocks: 2, stride: 2, widths: [8], operators: [shuffle3, xception], middle_ratios: [1.0]}
              - {blocks: 1, stride: 2, widths: [12], operators: [basic], middle_ratios: [1.0]}
            head: {channels: 0}
            """, file: "tiny-colour.yaml")
        var spec = SyntheticSpec()
        spec.channels = 3; spec.height = 12; spec.width = 12; spec.classes = 4; spec.trainCount = 200; spec.testCount = 64
        let (all, test) = try DataSource.synthetic(spec).load()
        let (train, val) = try all.splitValidation(40)
        let (t, _, norm) = try trainedRun(space, train: train, validation: val, steps: 12)
        #expect(Set(norm.mean).count == 3, "per-channel means differ, so the per-channel border path runs")
        let arch = space.largest
        recalibrated(t, train, norm, arch)
        let model = try t.supernet!.extract(arch)
        let unfolded = try model.inferenceGraph(arch, mean: norm.mean, std: norm.std)
        let graph = unfolded.foldingInputNormalization()
        let images = ImageSource(dataset: test)
        let x = images.floats(0..<images.count)
        let a = FloatExecutor.run(unfolded, input: x, batch: images.count), b = FloatExecutor.run(graph, input: x, batch: images.count)
        let scale = max(1, a.map(abs).max()!)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "folded vs unfolded")
        let dnnlFloat = try DNNLFloatExecutor(graph).run(x, batch: images.count)
        #expect(zip(a, dnnlFloat).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "oneDNN float")

        let q = try Calibration.quantize(graph, images: ImageSource(dataset: train), settings: QuantizationSettings(), engine: Engine(threads: 2))
        #expect(q.layers.values.contains { $0.padValue?.count == 3 })
        let pixels = images.pixels(0..<images.count)
        #expect(try DNNLExecutor(q).run(pixels, batch: images.count) == IntegerExecutor.run(q, input: pixels, batch: images.count))

        guard let python = testPython() else {
            Issue.record("no Python with onnxruntime: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let tmp = TemporaryDirectory("colour")
        defer { withExtendedLifetime(tmp) {} }
        let n = images.count
        try x.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("input.f32")))
        // Float ONNX (Sub → Pad → Add border) against the unfolded logits.
        try AtomicFile.write(ONNXExport.encode(graph, producerVersion: "1"), to: tmp.file("model.onnx"))
        try a.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("float.f32")))
        var (status, text) = try runProgram(python, [repositoryFile("scripts/check_onnx.py"), tmp.file("model.onnx"), tmp.file("input.f32"),
                                                     tmp.file("float.f32"), "\(n)", "3", "12", "12", "4", "1e-4"])
        #expect(status == 0, "\(text)")
        try AtomicFile.write(ONNXExport.encode(q, producerVersion: "1"), to: tmp.file("model.int8.onnx"))
        try IntegerExecutor.run(q, input: pixels, batch: n).withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("int8.f32")))
        (status, text) = try runProgram(python, [repositoryFile("scripts/check_onnx_int8.py"), tmp.file("model.int8.onnx"), tmp.file("input.f32"),
                                                 tmp.file("int8.f32"), "\(n)", "3", "12", "12", "4"])
        #expect(status == 0, "\(text)")
    }
}
