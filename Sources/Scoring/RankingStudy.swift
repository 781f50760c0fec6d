import Datasets
import Foundation
import Networks
import Runs
import Spaces
import TensorCore
import Training

/// The pieces of `pare correlate`: how well a supernet's scores rank architectures against
/// training each of them alone.
public enum RankingStudy {
    /// K distinct architectures: uniform draws, or one per equal-width MACs bin with --spread.
    public static func drawArchitectures(_ space: SearchSpace, samples: Int, seed: UInt64, spread: Bool) throws -> [Architecture] {
        let rng = RNG(seed: seed)
        var archs: [Architecture] = []
        var seen = Set<Architecture>()
        let lo = space.cost(space.smallest).macs, hi = space.cost(space.largest).macs
        var draws = 0
        while archs.count < samples {
            draws += 1
            guard draws < 100 * samples else { throw RankingStudyError("--samples \(samples): the space has too few distinct candidates") }
            let a: Architecture
            if spread {
                let bin = Double(hi - lo) / Double(samples)
                let target = lo + Int(bin * (Double(archs.count) + 0.5))
                a = space.randomArchitecture(nearMACs: target, tolerance: Int(bin / 2), rng: rng)
            } else {
                a = space.randomArchitecture(rng)
            }
            if seen.insert(a).inserted { archs.append(a) }
        }
        return archs
    }

    /// Validation accuracy of `arch` trained alone from a fresh initialisation (a network of
    /// exactly its widths) with the run's recipe for `epochs`.
    public static func trainStandalone(_ a: Architecture, space: SearchSpace, config: TrainConfig, train: Dataset, epochs: Int, norm: Normalization,
                                       evalLoader: BatchLoader, initSeed: UInt64, dataSeed: UInt64, engine: Engine) throws -> Double {
        let net = Subnet(space: space, architecture: a, rng: RNG(seed: initSeed), engine: engine)
        let loader = BatchLoader(dataset: train, batchSize: config.recipe.batchSize, normalization: norm,
                                 augmentation: config.augmentation, shuffle: true, dropLast: true)
        let steps = loader.batchesPerEpoch * epochs
        let trainer = Trainer(network: net, recipe: config.recipe, totalSteps: max(steps, 1), stepsPerEpoch: loader.batchesPerEpoch)
        if trainer.train(steps: steps, arch: a, loader: loader, rng: RNG(seed: dataSeed)) != nil {
            throw RankingStudyError("stand-alone training of \(a) diverged (non-finite loss)")
        }
        return ArchitectureEvaluator(network: net).evaluate(arch: a, loader: evalLoader).accuracy
    }

    /// Kendall tau of each score list against the mean stand-alone accuracy, and against
    /// single seeds (mean over seeds: comparable with the seed-to-seed ceiling).
    public static func tau(_ scores: [Double], standalone: [[Double]]) -> (mean: Double, singleSeed: Double) {
        let seeds = standalone.count
        let reference = (0..<scores.count).map { i in standalone.map { $0[i] }.reduce(0, +) / Double(seeds) }
        let single = standalone.map { RankCorrelation.kendallTau(scores, $0) }.reduce(0, +) / Double(seeds)
        return (RankCorrelation.kendallTau(scores, reference), single)
    }

    /// Mean Kendall tau of one stand-alone seed against another (nan with one seed).
    public static func seedToSeedTau(_ standalone: [[Double]]) -> Double {
        guard standalone.count >= 2 else { return .nan }
        var pairs: [Double] = []
        for r in 0..<standalone.count { for q in (r + 1)..<standalone.count { pairs.append(RankCorrelation.kendallTau(standalone[r], standalone[q])) } }
        return pairs.reduce(0, +) / Double(pairs.count)
    }
}

/// A problem with a ranking study's input, one line.
public struct RankingStudyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Architectures and stand-alone accuracies of an earlier `pare correlate` (its JSON output).
public struct StandaloneReference {
    public var architectures: [Architecture]
    public var accuracies: [[Double]]  // [arch][seed]
    public var epochs: Int
    public var trainImages: Int
    public var seeds: Int
    /// The `--seed` it was made with (architectures, and the stand-alone seeds it derives).
    public var seed: UInt64
    public var spread: Bool

    private struct File: Decodable {
        struct Row: Decodable {
            var arch: String
            var standalone_accuracy: Double
            var standalone_accuracies: [Double]?
        }
        var architectures: [Row]
        var standalone_epochs: Int
        var train_images: Int
        var validation_images: Int
        var seed: UInt64
        var spread: Bool?
    }

    public static func load(_ path: String, space: SearchSpace, validationImages: Int) throws -> StandaloneReference {
        guard let data = FileManager.default.contents(atPath: path) else { throw RankingStudyError("\(path): file not found") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw RankingStudyError("\(path): not a correlate.json written by `pare correlate` (\(decodingProblem(error)))")
        }
        guard file.validation_images == validationImages else {
            throw RankingStudyError("\(path): field 'validation_images' is \(file.validation_images), this comparison scores on \(validationImages); pass --validation-images \(file.validation_images)")
        }
        guard file.architectures.count >= 3 else { throw RankingStudyError("\(path): field 'architectures' has \(file.architectures.count) entries, at least 3 expected") }
        var archs: [Architecture] = [], accuracies: [[Double]] = []
        for (i, row) in file.architectures.enumerated() {
            do { archs.append(try Architecture(parsing: row.arch, space: space)) } catch {
                throw RankingStudyError("\(path): architectures[\(i)]: \(error)")
            }
            accuracies.append(row.standalone_accuracies ?? [row.standalone_accuracy])
        }
        let seeds = accuracies[0].count
        guard seeds >= 1, accuracies.allSatisfy({ $0.count == seeds }) else {
            throw RankingStudyError("\(path): field 'standalone_accuracies' must have the same number of seeds for every architecture")
        }
        return StandaloneReference(architectures: archs, accuracies: accuracies, epochs: file.standalone_epochs,
                                   trainImages: file.train_images, seeds: seeds, seed: file.seed, spread: file.spread ?? false)
    }
}
