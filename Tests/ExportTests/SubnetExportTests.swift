import Datasets
import Export
import Foundation
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("Subnet export") struct SubnetExportTests {
    func sharing(_ variant: String) -> KernelSharing {
        variant.hasSuffix("crop") ? .centreCrop : variant.hasSuffix("transform") ? .transform : .separate
    }

    @Test("the extracted model computes the supernet's logits for its architecture, holding exactly the architecture's parameters",
          arguments: ["none", "crop", "transform", "pruningnet", "pruningnet+transform", "classic"])
    func extractedEqualsSupernet(variant: String) throws {
        let (t, train, norm) = try trainedSupernet(sharing: sharing(variant), pruningNet: variant.hasPrefix("pruningnet"), classic: variant == "classic")
        let space = t.config.space
        let rng = RNG(seed: 21)
        for arch in [space.smallest, space.largest] + (0..<6).map({ _ in space.randomArchitecture(rng) }) {
            recalibrated(t, train, norm, arch)
            let x = images(5, space: space, norm: norm, seed: 3)
            let expected = logitsRowMajor(t.supernet!, x.map, arch)
            let model = try t.supernet!.extract(arch)
            #expect(maxAbsDifference(logitsRowMajor(model, x.map, arch), expected) <= 1e-5, "\(arch)")
            #expect(model.parameters.reduce(0) { $0 + $1.count } == space.cost(arch).parameters, "physically sliced: \(arch)")
        }
    }

    @Test("the folded inference graph matches Pare's forward (reference interpreter)", arguments: ["none", "crop", "transform", "pruningnet", "classic"])
    func graphMatchesForward(variant: String) throws {
        let (t, train, norm) = try trainedSupernet(sharing: sharing(variant), pruningNet: variant.hasPrefix("pruningnet"), classic: variant == "classic")
        let space = t.config.space
        let rng = RNG(seed: 5)
        for arch in [space.largest] + (0..<5).map({ _ in space.randomArchitecture(rng) }) {
            recalibrated(t, train, norm, arch)
            let model = try t.supernet!.extract(arch)
            let x = images(3, space: space, norm: norm, seed: 8)
            // The supernet's own graph (elastic kernels folded at the architecture's sizes) too.
            let own = try t.supernet!.inferenceGraph(arch, mean: norm.mean, std: norm.std)
            #expect(maxAbsDifference(interpret(own, input: x.nchw, batch: 3), logitsRowMajor(model, x.map, arch)) <= 1e-4, "\(arch)")
            let graph = try model.inferenceGraph(arch, mean: norm.mean, std: norm.std)
            let unfolded = interpret(graph, input: x.nchw, batch: 3)
            #expect(maxAbsDifference(unfolded, logitsRowMajor(model, x.map, arch)) <= 1e-4, "\(arch)")
            // The input normalization folded into the stem: the same function, border included.
            let folded = graph.foldingInputNormalization()
            #expect(graph.canFoldInputNormalization && folded.nodes.count == graph.nodes.count - 1)
            let scale = max(1, unfolded.map(abs).max()!)
            #expect(maxAbsDifference(interpret(folded, input: x.nchw, batch: 3), unfolded) <= 1e-5 * scale, "\(arch)")
        }
    }

    @Test("recalibration as a value: the network is left as it was, and extracting with the statistics equals recalibrating then extracting")
    func statisticsAsAValue() throws {
        let (t, train, norm) = try trainedSupernet()
        let net = t.supernet!, space = t.config.space
        let arch = space.randomArchitecture(RNG(seed: 4))
        let before = NormStatistics(net.norms)
        let loader = BatchLoader(dataset: train, batchSize: 32, normalization: norm, shuffle: false, dropLast: false)
        let statistics = ArchitectureEvaluator(network: net).recalibratedStatistics(arch: arch, loader: loader, indices: Array(0..<96))
        #expect(NormStatistics(net.norms) == before)
        #expect(statistics != before)
        let x = images(5, space: space, norm: norm, seed: 3)
        let taken = logitsRowMajor(try net.extract(arch, statistics: statistics), x.map, arch)
        recalibrated(t, train, norm, arch)
        #expect(taken == logitsRowMajor(try net.extract(arch), x.map, arch))
        // Statistics that miss a layer of the path are refused, naming it.
        var partial = statistics
        partial.tensors["stem.bn.running_var"] = nil
        #expect(throws: SubnetError.mismatch("the statistics hold no 'stem.bn.running_var' of 4 channels for 'stem.bn.running_var'")) {
            try net.extract(arch, statistics: partial)
        }
    }

    @Test("export then load gives the same network bit for bit")
    func roundTrip() throws {
        let (t, train, norm) = try trainedSupernet()
        let arch = t.config.space.randomArchitecture(RNG(seed: 2))
        recalibrated(t, train, norm, arch)
        let model = try t.supernet!.extract(arch)
        let tmp = TemporaryDirectory("export")
        defer { withExtendedLifetime(tmp) {} }
        let dir = ModelDirectory(path: tmp.file("model"))
        let written = try dir.write(model: model, normalization: norm, provenance: provenance, folded: true, onnx: false)
        let (description, loaded) = try dir.load()
        #expect(description == written)
        #expect(description.architecture == arch.description)
        for (a, b) in zip(model.stateTensors, loaded.stateTensors) {
            #expect(a.name == b.name && a.shape == b.shape)
            #expect(Array(UnsafeBufferPointer(start: a.pointer, count: a.count)) == Array(UnsafeBufferPointer(start: b.pointer, count: b.count)))
        }
        let x = images(4, space: t.config.space, norm: norm, seed: 1)
        #expect(logitsRowMajor(loaded, x.map, arch) == logitsRowMajor(model, x.map, arch))
        // Extracting from a standalone model (single-operator slots, no ".ops.J") copies it.
        #expect(logitsRowMajor(try loaded.extract(arch), x.map, arch) == logitsRowMajor(model, x.map, arch))
        // PyTorch naming: a block's tensors are blocks.B.main.* / blocks.B.proj.*.
        #expect(description.tensors.contains { $0.name == "blocks.0.main.bn3.running_var" || $0.name == "blocks.0.main.bn6.running_var" })
        #expect(description.tensors.contains { $0.name.hasPrefix("blocks.2.expand.weight") })
        let folded = try Safetensors.read(dir.file(ModelDirectory.foldedFile)).tensors
        #expect(folded["stem.conv.bias"]?.shape == [4])
        #expect(!folded.keys.contains { $0.contains("running") })
    }
}
