import Datasets
import Layers
import Networks
import Pruning
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

@Suite("Soft pruning") struct SoftMaskTests {
    @Test("the mask zeroes exactly the chosen filters (and their momentum), and they regrow with training")
    func masksAndRegrows() throws {
        BLAS.configure()
        let (space, arch) = try fixture(classicArchitectures[0])
        let model = randomModel(space, arch, seed: 11)
        // Positive BN shifts: no ReLU is dead, so a gradient reaches every masked filter (a
        // filter behind a dead ReLU stays at zero in soft filter pruning too).
        for bn in model.norms { for c in 0..<bn.maxChannels { bn.beta.value[c] = abs(bn.beta.value[c]) + 0.1 } }
        let pruner = Pruner(model: model, minimumFraction: 0.25)
        let scores = GeometricMedian(nu: 0.7).scores(pruner.groups, TensorStore(model))
        let removed = pruner.removedChannels(try pruner.plan(scores: scores, removing: 0.3), scores: scores)
        let total = pruner.groups.filter(\.prunable).reduce(0) { $0 + $1.channels }
        #expect(abs(removed.reduce(0) { $0 + $1.count } - total * 3 / 10) <= 2)
        let before = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, Array(UnsafeBufferPointer(start: $0.value, count: $0.count))) })
        for p in model.parameters { p.velocity.update(repeating: 1, count: p.count) }
        SoftMask.apply(removed, groups: pruner.groups, network: model)
        var zeroed = Set<String>()
        for (g, channels) in zip(pruner.groups, removed) {
            for producer in g.producers {
                let p = model.parameters.first { $0.name == producer.weight }!
                let row = p.count / p.shape[0]
                for c in 0..<p.shape[0] {
                    let values = (0..<row).map { p.value[c * row + $0] }, momentum = (0..<row).map { p.velocity[c * row + $0] }
                    if channels.contains(c) {
                        #expect(values.allSatisfy { $0 == 0 } && momentum.allSatisfy { $0 == 0 }, "\(p.name) row \(c)")
                        zeroed.insert("\(p.name)#\(c)")
                    } else {
                        #expect(values == Array(before[p.name]![(c * row)..<((c + 1) * row)]), "\(p.name) row \(c) untouched")
                    }
                }
            }
        }
        #expect(!zeroed.isEmpty)
        // Nothing but producer filters changed (BN scales and shifts stay, so gradients reach the filters).
        for p in model.parameters where !pruner.groups.flatMap(\.producers).contains(where: { $0.weight == p.name }) {
            #expect(Array(UnsafeBufferPointer(start: p.value, count: p.count)) == before[p.name]!, "\(p.name)")
        }
        let trainer = Trainer(network: model, recipe: Recipe(), totalSteps: 4)
        let x = input(space, batch: 16, seed: 4)
        // A masked depthwise filter passes no gradient back to the filters before it: those
        // regrow one step after it does.
        for _ in 0..<3 { _ = trainer.train(images: x.map, labels: (0..<16).map { Int32($0 % 4) }, arch: arch) }
        let regrown = zeroed.filter { key in
            let parts = key.split(separator: "#"), p = model.parameters.first { $0.name == parts[0] }!
            let row = p.count / p.shape[0], c = Int(parts[1])!
            return (0..<row).contains { p.value[c * row + $0] != 0 }
        }
        #expect(regrown.count == zeroed.count, "every masked filter trains again: \(zeroed.subtracting(regrown).sorted())")
    }

    @Test("training with a soft mask at every epoch start resumes bit-exactly, mid-epoch and at an epoch boundary", arguments: [5, 7])
    func resumeWithMask(stop: Int) throws {
        let (space, arch) = try fixture(classicArchitectures[1])
        let (train, val) = try tinyData()
        var config = TrainConfig(space: space, spaceFile: "tiny-classic.yaml", data: "synthetic")
        config.epochs = 3
        config.recipe.batchSize = 32
        config.fixedArchitecture = arch
        config.probes = 0
        config.softPrune = SoftPruning(method: "fpgm-weak", rate: 0.3, nu: 0.7, theta: 1e-8, minimumWidth: 0.25)
        #expect(try resumesBitExactly(config, train: train, validation: val, stop: stop) { t in
            t.onEpochStart = { run in try SoftMask.step(run.network as! Subnet, criterion: GeometricMedian(nu: 0.7), amount: .fraction(0.3), minimumFraction: 0.25) }
        })
    }
}
