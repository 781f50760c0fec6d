import Datasets
import Export
import Foundation
import Networks
import Pruning
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("One-shot pruning") struct PrunerTests {
    /// The network after pruning computes what the unpruned one computes with the removed
    /// channels masked (their BN scale and shift zero): removal is exactly a mask.
    @Test("a pruned network equals the original with the pruned channels masked", arguments: classicArchitectures + mobileArchitectures)
    func prunedEqualsMasked(text: String) throws {
        BLAS.configure()
        let (space, arch) = try fixture(text)
        let model = randomModel(space, arch, seed: 7)
        let pruner = Pruner(model: model, minimumFraction: 0.25)
        let scores = randomScores(pruner.groups, seed: 2)
        let target = PruneTarget(metric: .macs, value: space.cost(arch).macs * 6 / 10)
        let plan = try pruner.plan(scores: scores, target: target)
        #expect(plan.cost.macs <= target.value)
        let pruned = try pruner.apply(plan, scores: scores)
        #expect(pruned.parameters.reduce(0) { $0 + $1.count } == plan.space.cost(plan.architecture).parameters)
        // The original is reordered now (same function): its leading channels are the kept ones.
        for g in pruner.groups where g.prunable {
            let keep = g.roles.map { plan.counts[$0]! }.min()!
            for p in g.producers {
                let bn = model.norms.first { $0.layerName == p.norm }!
                for c in keep..<g.channels { bn.gamma.value[c] = 0; bn.beta.value[c] = 0 }
            }
        }
        let x = input(space)
        #expect(maxAbsDifference(logits(pruned, x), logits(model, x)) <= 1e-5)
    }

    @Test("the global ranking takes the least important channels wherever they are, and never empties a layer")
    func globalRanking() throws {
        // Identity shortcuts only: every width can reach its minimum.
        let (space, arch) = try fixture(classicArchitectures[1])
        let model = randomModel(space, arch, seed: 3)
        let pruner = Pruner(model: model, minimumFraction: 0.1)
        // Block 3's middle channels matter least everywhere; all others matter equally.
        let scores = pruner.groups.map { g in [Double](repeating: g.roles.contains(.middle(block: 3)) ? 0.1 : 1, count: g.channels) }
        let full = space.cost(arch).macs
        let small = try pruner.plan(scores: scores, target: PruneTarget(metric: .macs, value: full - 1))
        #expect(small.counts[.middle(block: 3)] == 7)
        #expect(small.counts.filter { $0.key != .middle(block: 3) } == pruner.counts.filter { $0.key != .middle(block: 3) })
        // Down to the smallest reachable cost: every width at its minimum, none at zero.
        var smallest = pruner.counts
        for (role, count) in smallest { smallest[role] = pruner.minimumCount(count) }
        let floor = Pruner.prunedSpace(space, arch, counts: smallest)
        let reachable = floor.0.cost(floor.1).macs
        let tight = try pruner.plan(scores: scores, target: PruneTarget(metric: .macs, value: reachable))
        #expect(tight.counts.allSatisfy { $0.value >= 1 && $0.value >= pruner.minimumCount(pruner.counts[$0.key]!) })
        #expect(throws: PruneError.self) { _ = try pruner.plan(scores: scores, target: PruneTarget(metric: .macs, value: reachable - 1)) }
    }

    @Test("a pruned export loads and matches its own forward")
    func prunedExportRoundTrip() throws {
        let (space, arch) = try fixture(classicArchitectures[0])
        let model = randomModel(space, arch, seed: 5)
        let pruner = Pruner(model: model)
        let scores = FilterNorm(p: 1).scores(pruner.groups, TensorStore(model))
        let plan = try pruner.plan(scores: scores, target: PruneTarget(metric: .parameters, value: space.cost(arch).parameters / 2))
        let pruned = try pruner.apply(plan, scores: scores)
        let tmp = TemporaryDirectory("pruned")
        defer { withExtendedLifetime(tmp) {} }
        let dir = ModelDirectory(path: tmp.file("model"))
        let norm = Normalization(mean: [0.3], std: [0.2])
        let provenance = ModelDescription.Provenance(run: "test", spaceFile: "tiny-classic.yaml", data: "synthetic", validation: 40, trainLimit: 0,
                                                     supernetCheckpoint: "none", search: nil, inheritedScore: nil, calibrationImages: 0,
                                                     exportedAt: "2026-11-24T00:00:00Z")
        try dir.write(model: pruned, normalization: norm, provenance: provenance, folded: true, onnx: true)
        let (description, loaded) = try dir.load()
        #expect(description.parameters == plan.cost.parameters)
        #expect(description.parameters <= space.cost(arch).parameters / 2)
        let x = input(space)
        #expect(logits(loaded, x) == logits(pruned, x))
    }
}
