import Networks
import Pruning
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite("Importance criteria") struct ImportanceTests {
    @Test("Every criterion by name: the one it builds carries that name, nu and theta (no caller patches it)")
    func criteriaByName() throws {
        #expect(ImportanceCriterion.allCases.map(\.rawValue) == ["l1", "l2", "slimming", "fpgm", "fpgm-weak"])
        #expect(ImportanceCriterion.names == "l1, l2, slimming, fpgm or fpgm-weak")
        for c in ImportanceCriterion.allCases {
            let made = c.make(nu: 0.9, theta: 0.25)
            #expect(made.name == c.rawValue)
            #expect(channelImportance(named: c.rawValue, nu: 0.9)?.name == c.rawValue)
            if let g = made as? GeometricMedian {
                #expect(g.theta == 0.25 && g.nu == (c == .fpgm ? 1 : 0.9))
            }
        }
        #expect(channelImportance(named: "search", nu: 0.9) == nil)
    }

    @Test("FPGM: a filter equal to the mean of the others is nearest the geometric median (smallest R)")
    func geometricMedian() {
        let rng = RNG(seed: 8)
        var filters = (0..<5).map { _ in (0..<9).map { _ in Float(rng.normal()) } }
        let mean = (0..<9).map { k in filters.reduce(0) { $0 + $1[k] } / 5 }
        filters.insert(mean, at: 2)
        let r = GeometricMedian.distanceSums(filters)
        #expect(r.indices.min { r[$0] < r[$1] } == 2)
        // R by hand for two filters: the distance itself, counted for both.
        #expect(GeometricMedian.distanceSums([[0, 0], [3, 4]]) == [5, 5])
    }

    @Test("weak-layer rule: a layer of near-identical filters gets nu, the others 1")
    func weakLayers() {
        let rng = RNG(seed: 3)
        let diverse = { (0..<6).map { _ in (0..<9).map { _ in Float(rng.normal()) } } }
        let base = (0..<9).map { _ in Float(rng.normal()) }
        let redundant = (0..<6).map { _ in base.map { $0 + Float(rng.normal()) * 1e-3 } }
        let distances = [diverse(), redundant, diverse()].map(GeometricMedian.distanceSums)
        #expect(GeometricMedian.layerFactors(distances, nu: 0.7) == [1, 0.7, 1])
        #expect(GeometricMedian.layerFactors(distances, nu: 1) == [1, 1, 1])
    }

    @Test("criteria on a network: L1 ranks a zeroed filter last; slimming reads |gamma|; one score per channel of each prunable group")
    func criteriaOnNetwork() throws {
        let (space, arch) = try fixture(classicArchitectures[0])
        let model = randomModel(space, arch, seed: 2)
        let groups = model.channelGroups
        let tensors = TensorStore(model)
        let middle = groups.firstIndex { $0.roles == [.middle(block: 2)] }!
        let conv1 = tensors.tensor(groups[middle].producers[0].weight)
        let size = conv1.count / conv1.shape[0]
        (conv1.pointer + 3 * size).update(repeating: 0, count: size)
        for criterion in [FilterNorm(p: 1), FilterNorm(p: 2), BatchNormScale(), GeometricMedian(), GeometricMedian(nu: 0.7)] as [any ChannelImportance] {
            let s = criterion.scores(groups, tensors)
            #expect(zip(groups, s).allSatisfy { $0.prunable ? $1.count == $0.channels : $1.isEmpty }, "\(criterion.name)")
            #expect(s.allSatisfy { $0.allSatisfy(\.isFinite) }, "\(criterion.name)")
        }
        let l1 = FilterNorm(p: 1).scores(groups, tensors)[middle]
        #expect(l1.indices.min { l1[$0] < l1[$1] } == 3)
        let bn = model.norms.first { $0.layerName == groups[middle].producers[0].norm }!
        bn.gamma.value[1] = -0.01
        let slim = BatchNormScale().scores(groups, tensors)[middle]
        #expect(abs(slim[1] - 0.01) < 1e-6 && slim.indices.min { slim[$0] < slim[$1] } == 1)
    }
}
