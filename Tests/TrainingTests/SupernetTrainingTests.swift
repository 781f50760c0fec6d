import Datasets
import Layers
import Networks
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

/// Training the reference supernet: seeded runs repeat exactly, and a fixed path learns.
@Suite struct SupernetTrainingTests {
    let space = SearchSpace.reference

    func train(seed: UInt64, steps: Int, data: Dataset, path fixed: Architecture? = nil) -> (Supernet, [Double]) {
        let rng = RNG(seed: seed)
        let net = Supernet(space: space, rng: rng)
        var recipe = Recipe()
        recipe.batchSize = 64
        let loader = BatchLoader(dataset: data, batchSize: 64, normalization: Normalization.fit(data),
                                 augmentation: Augmentation(cropPadding: 1), shuffle: true, dropLast: true)
        let trainer = Trainer(network: net, recipe: recipe, totalSteps: steps)
        var losses: [Double] = []
        while losses.count < steps {
            loader.startEpoch(rng: rng)
            while losses.count < steps, let b = loader.next(rng: rng) {
                losses.append(trainer.train(images: b.images, labels: b.labels, arch: fixed ?? space.randomArchitecture(rng)).loss)
            }
        }
        return (net, losses)
    }

    @Test func sameSeedGivesIdenticalWeights() {
        BLAS.configure()
        let data = SyntheticSpec().generate(count: 256, seed: 3)
        let (a, _) = train(seed: 11, steps: 6, data: data)
        let (b, _) = train(seed: 11, steps: 6, data: data)
        let (c, _) = train(seed: 12, steps: 6, data: data)
        #expect(zip(a.parameters, b.parameters).allSatisfy { $0.tensor == $1.tensor })
        #expect(!zip(a.parameters, c.parameters).allSatisfy { $0.tensor == $1.tensor })
    }

    @Test func learnsASeparableSet() throws {
        BLAS.configure()
        var spec = SyntheticSpec()
        spec.trainCount = 2048
        let (trainSet, testSet) = try DataSource.synthetic(spec).load()
        let path = space.smallest
        let (net, losses) = train(seed: 1, steps: 120, data: trainSet, path: path)
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(last < first * 0.5, "loss \(first) -> \(last)")
        let evaluator = ArchitectureEvaluator(network: net)
        let loader = BatchLoader(dataset: testSet, batchSize: 100, normalization: Normalization.fit(trainSet), shuffle: false, dropLast: false)
        evaluator.recalibrate(arch: path, loader: loader, indices: Array(0..<testSet.count))
        let result = evaluator.evaluate(arch: path, loader: loader)
        #expect(result.accuracy >= 0.95, "accuracy \(result.accuracy)")
    }
}
