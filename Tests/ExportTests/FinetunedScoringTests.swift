import Datasets
import Foundation
import Search
import Spaces
import Networks
import Scoring
import TensorCore
import Testing
import _TestSupport

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

    /// A candidate that skips blocks is finetuned and trained alone as the network of its
    /// own depth, handed the supernet's architecture (what the search and correlate pass).
    @Test func candidatesThatSkipBlocksAreFinetunedAndTrainedAlone() throws {
        let space = try SpaceFile.parse("""
            name: elastic-scoring
            input: {channels: 1, size: 12}
            classes: 4
            stem: {channels: 4}
            stages:
              - {depths: [1, 2, 3], stride: 2, widths: [6, 8], operators: [mbconv3_e3, mbconv5_e3], middle_ratios: [0.5, 1.0]}
            head: {channels: 8}
            """, file: "elastic.yaml")
        let (train, val) = try tinyData()
        let (t, _, norm) = try trainedRun(space, train: train, validation: val, steps: 6)
        let arch = try Architecture(parsing: "8:mbconv5_e3@1.0,skip,skip", space: space)
        var recipe = t.config.recipe
        recipe.batchSize = 32
        let s = InheritedWeightScorer(network: t.supernet!, train: train.subset(0..<128), validation: val, normalization: norm,
                                      calibration: CalibrationSet(images: 64, seed: 5), finetuneSteps: 3, finetuneLearningRate: 0.05, recipe: recipe)
        let score = try s.score(arch)
        #expect(score >= 0 && score <= 1)
        #expect(try s.scoredNetwork(arch).space.blocks.count == 1)
        let loader = CalibrationSet.validationLoader(val, normalization: norm)
        let alone = try RankingStudy.trainStandalone(arch, space: space, config: t.config, train: train, epochs: 1, norm: norm,
                                                     evalLoader: loader, initSeed: 1, dataSeed: 2, engine: Engine(threads: 1))
        #expect(alone >= 0 && alone <= 1)
    }

    @Test func tooFewImagesForABatchIsAnError() throws {
        let (t, train, norm) = try trainedSupernet()
        let (_, val) = try train.splitValidation(40)
        let s = InheritedWeightScorer(network: t.supernet!, train: train.subset(0..<20), validation: val, normalization: norm,
                                      calibration: CalibrationSet(images: 20, seed: 1), finetuneSteps: 3)
        #expect(throws: ScoringError.self) { try s.score(t.config.space.smallest) }
    }
}
