import Datasets
import Foundation
import Search
import Spaces
import Networks
import Scoring
import TensorCore
import Testing

/// Candidate scoring with a short finetune first: it works on a standalone copy of the
/// inherited weights (here beside export because it is built on `extract`).
@Suite struct FinetunedScoringTests {
    func snapshot(_ net: Supernet) -> [[Float]] {
        net.stateTensors.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) }
    }

    @Test func scoresDependOnTheArchitectureOnlyAndLeaveTheSupernetAlone() throws {
        let (t, train, norm) = try trainedSupernet()
        let space = t.config.space
        let (_, val) = try train.splitValidation(40)
        let rng = RNG(seed: 31)
        let a = space.randomArchitecture(rng), b = space.randomArchitecture(rng)
        var recipe = t.config.recipe
        recipe.batchSize = 32
        func scorer() -> InheritedWeightScorer {
            // 7 steps over 4 batches per epoch: the finetune wraps into a second epoch.
            InheritedWeightScorer(network: t.supernet!, train: train.subset(0..<128), validation: val, normalization: norm,
                                  calibration: CalibrationSet(images: 64, seed: 5), finetuneSteps: 7, finetuneLearningRate: 0.05, recipe: recipe)
        }
        let before = snapshot(t.supernet!)
        let s1 = scorer()
        let a1 = try s1.score(a), b1 = try s1.score(b), a2 = try s1.score(a)
        let s2 = scorer()
        let b2 = try s2.score(b), a3 = try s2.score(a)
        #expect(a1 == a2 && a1 == a3 && b1 == b2)
        #expect(snapshot(t.supernet!) == before, "finetuned scoring changed the supernet")
        #expect(s1.scoring == ScoringSettings(calibrationImages: 64, validationImages: 40, finetuneSteps: 7, finetuneLearningRate: 0.05))

        // The steps do change the weights that are scored: compare logits of the two ways.
        let plain = InheritedWeightScorer(network: t.supernet!, train: train.subset(0..<128), validation: val, normalization: norm,
                                          calibration: CalibrationSet(images: 64, seed: 5))
        _ = try plain.score(a)
        let tuned = try s1.scoredNetwork(a)
        let x = images(8, space: space, norm: norm, seed: 2).map
        #expect(logitsRowMajor(tuned, x, a) != logitsRowMajor(t.supernet!, x, a))
    }

    @Test func tooFewImagesForABatchIsAnError() throws {
        let (t, train, norm) = try trainedSupernet()
        let (_, val) = try train.splitValidation(40)
        let s = InheritedWeightScorer(network: t.supernet!, train: train.subset(0..<20), validation: val, normalization: norm,
                                      calibration: CalibrationSet(images: 20, seed: 1), finetuneSteps: 3)
        #expect(throws: ScoringError.self) { try s.score(t.config.space.smallest) }
    }
}
