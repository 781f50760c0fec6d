import Datasets
import Export
import Foundation
import Networks
import Spaces
import TensorCore
import Testing
import _TestSupport

/// model.json (version 2) + safetensors are a complete description: tools/pare_model.py,
/// which reads nothing of Pare's code, rebuilds the network with numpy and computes Pare's
/// logits.
@Suite("Reference loader") struct ReferenceLoaderTests {
    /// uint8 pixels NCHW and the normalized [C, H, W, N] map Pare's forward takes.
    func pixels(_ n: Int, space: SearchSpace, norm: Normalization, seed: UInt64) -> ([UInt8], OwnedMap) {
        let c = space.inputChannels, s = space.inputSize
        let rng = RNG(seed: seed)
        let raw = (0..<(n * c * s * s)).map { _ in UInt8(rng.int(below: 256)) }
        let map = OwnedMap(channels: c, height: s, width: s, batch: n)
        for i in 0..<n { for ch in 0..<c { for p in 0..<(s * s) {
            map.map.pointer[(ch * s * s + p) * n + i] = (Float(raw[(i * c + ch) * s * s + p]) / 255 - norm.mean[ch]) / norm.std[ch]
        } } }
        return (raw, map)
    }

    @Test("tools/pare_model.py computes Pare's logits from model.json and the weights alone, for every operator form", arguments: [false, true])
    func numpyLoaderMatches(classic: Bool) throws {
        guard let python = testPython() else {
            Issue.record("no Python with numpy: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let (t, train, norm) = try trainedSupernet(classic: classic)
        let space = t.config.space
        let rng = RNG(seed: 17)
        // Split and projection ShuffleNet blocks, Xception, MobileNetV2 with and without residual;
        // ResNet blocks with identity and projections, plain and MobileNetV1 blocks, no head convolution.
        var archs = try (classic ? ["6/12:basic@1.0,conv3@1.0,basic@0.5,dwsep5@1.0", "4/8:basic@1.0,basic@1.0,dwsep3@1.0,basic@1.0"]
                                 : ["8/16:xception@1.0,shuffle3@1.5,mbconv5_e6@1.0,mbconv3_e3@0.5", "6/12:shuffle5@0.5,shuffle3@1.0,mbconv3_e3@1.0,mbconv5_e6@0.5"])
            .map { try Architecture(parsing: $0, space: space) }
        archs += (0..<2).map { _ in space.randomArchitecture(rng) }
        for (i, arch) in archs.enumerated() {
            recalibrated(t, train, norm, arch)
            let model = try t.supernet!.extract(arch)
            let tmp = TemporaryDirectory("loader")
            defer { withExtendedLifetime(tmp) {} }
            let dir = ModelDirectory(path: tmp.file("model"))
            let description = try dir.write(model: model, normalization: norm, provenance: provenance, folded: false, onnx: false)
            let network = try #require(description.network)
            #expect(network.blocks.count == space.blocks.count)
            #expect(Set(network.blocks.map(\.combine)).isSubset(of: [.splitMainInterleave, .concatProjectionMain, .addInputMain, .main, .addInputMainReLU, .addProjectionMainReLU]))
            let n = 9
            let (raw, x) = pixels(n, space: space, norm: norm, seed: UInt64(40 + i))
            let logits = logitsRowMajor(model, x, arch)
            let r = try numpyCheck(python, model: dir, pixels: raw, logits: logits, classes: space.classes, in: tmp)
            #expect(r.status == 0, "\(arch): \(r.output)")
            #expect(r.output.contains("0 clear predictions differ"), "\(r.output)")
        }
    }

    @Test("every layer of model.json's network names tensors of the weight file with matching shapes")
    func descriptionMatchesTensors() throws {
        let (t, train, norm) = try trainedSupernet()
        let space = t.config.space
        let arch = try Architecture(parsing: "8/16:xception@1.0,shuffle3@1.5,mbconv5_e6@1.0,mbconv3_e3@0.5", space: space)
        recalibrated(t, train, norm, arch)
        let network = try t.supernet!.extract(arch).describe(arch)
        let shapes = Dictionary(uniqueKeysWithValues: try t.supernet!.extract(arch).stateTensors.map { ($0.name, $0.shape) })
        let layers = [network.stem] + (network.head.map { [$0] } ?? []) + network.blocks.flatMap { $0.main + ($0.projection ?? []) }
        for l in layers {
            let inPerGroup = l.inputChannels / l.groups
            #expect(shapes[l.name + ".weight"] == [l.outputChannels, inPerGroup, l.kernel, l.kernel], "\(l.name)")
            for suffix in [".weight", ".bias", ".running_mean", ".running_var"] {
                #expect(shapes[l.batchNorm + suffix] == [l.outputChannels], "\(l.batchNorm)\(suffix)")
            }
        }
        // Every tensor of the weight file is used by some layer (or the classifier).
        var used: Set<String> = ["fc.weight", "fc.bias"]
        for l in layers {
            used.insert(l.name + ".weight")
            for suffix in [".weight", ".bias", ".running_mean", ".running_var"] { used.insert(l.batchNorm + suffix) }
        }
        #expect(Set(shapes.keys) == used)
        #expect(network.blocks.map(\.combine) == [.concatProjectionMain, .splitMainInterleave, .main, .addInputMain])
        // Depthwise layers in ShuffleNet blocks carry no ReLU; the stride sits on the first block's layers.
        #expect(network.blocks[0].main.first { $0.type == .depthwiseConv }?.activation == NetworkDescription.Activation.none)
        #expect(network.blocks[0].main.contains { $0.stride == 2 } && network.blocks[1].main.allSatisfy { $0.stride == 1 })
    }
}
