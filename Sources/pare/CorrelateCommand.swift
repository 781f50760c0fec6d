import ArgumentParser
import Data
import Foundation
import Runs
import SearchSpace
import Supernet
import TensorCore

struct CorrelateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correlate",
        abstract: "How well does the supernet rank candidates? Kendall tau and Spearman rho between inherited-weight scores and stand-alone training.",
        discussion: """
        Draws K random architectures of the run's space, scores each with the supernet's inherited weights \
        (as `pare search` does) and trains each from scratch for a short schedule with the same recipe, then \
        compares the two rankings. Writes RUN/correlate.json.
        """)

    @Option(name: .customLong("run"), help: "Run directory with a trained supernet.") var runDirectory: String
    @Option(help: "Random architectures (default 10).") var samples = 10
    @Option(help: "Stand-alone training epochs per architecture (default 2).") var epochs = 2
    @Option(help: "Training images per stand-alone epoch (default: the whole training split).") var trainImages: Int?
    @Option(help: "Validation images for both scores (default: the whole validation split).") var validationImages: Int?
    @Option(help: "Random seed (architectures, stand-alone init and data order).") var seed: UInt64 = 0
    @Flag(help: "Spread the architectures over the space's whole MACs range (one per equal-width cost bin) instead of drawing them uniformly (which crowds them around the middle).")
    var spread = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            startEngine(threads: threads)
            guard samples >= 3, epochs >= 1 else { throw UserError("--samples must be at least 3 and --epochs at least 1") }
            let (dir, config) = try openTrainedRun(runDirectory)
            let (supernetRun, trainAll, val, norm, _, checkpoint) = try loadTrainedSupernet(dir, config)
            let train = trainImages.map { trainAll.subset(0..<min(max($0, config.recipe.batchSize), trainAll.count)) } ?? trainAll
            let validation = validationImages.map { val.subset(0..<min(max($0, 1), val.count)) } ?? val
            let scorer = InheritedWeightScorer(network: supernetRun.network, train: trainAll, validation: validation,
                                               normalization: norm, calibrationImages: 2560, seed: seed)
            let rng = RNG(seed: seed)
            var archs: [Architecture] = []
            var seen = Set<Architecture>()
            let lo = config.space.cost(config.space.smallest).macs, hi = config.space.cost(config.space.largest).macs
            var draws = 0
            while archs.count < samples {
                draws += 1
                guard draws < 100 * samples else { throw UserError("--samples \(samples): the space has too few distinct candidates") }
                let a: Architecture
                if spread {
                    let bin = Double(hi - lo) / Double(samples)
                    let target = lo + Int(bin * (Double(archs.count) + 0.5))
                    a = config.space.randomArchitecture(nearMACs: target, tolerance: Int(bin / 2), rng: rng)
                } else {
                    a = config.space.randomArchitecture(rng)
                }
                if seen.insert(a).inserted { archs.append(a) }
            }
            let evalLoader = BatchLoader(dataset: validation, batchSize: 500, normalization: norm, shuffle: false, dropLast: false)
            logLine("pare correlate: \(samples) architectures of \(config.space.name), supernet \(checkpoint); stand-alone \(epochs) epochs on \(train.count) images, scored on \(validation.count)")
            var inherited: [Double] = [], standalone: [Double] = []
            var rows: [[String: Any]] = []
            let start = Date()
            print(" inherited  stand-alone   MMACs  architecture")
            for (i, a) in archs.enumerated() {
                let s = try scorer.score(a)
                // Stand-alone: a fresh network trained on this one path only.
                let net = Supernet(space: config.space, rng: RNG(seed: seed &+ UInt64(i) &+ 1))
                let loader = BatchLoader(dataset: train, batchSize: config.recipe.batchSize, normalization: norm,
                                         augmentation: config.augmentation, shuffle: true, dropLast: true)
                let trainer = SupernetTrainer(network: net, recipe: config.recipe, totalSteps: max(loader.batchesPerEpoch * epochs, 1))
                let dataRNG = RNG(seed: seed &+ 1000 &+ UInt64(i))
                for _ in 0..<epochs {
                    loader.startEpoch(rng: dataRNG)
                    while let b = loader.next(rng: dataRNG) {
                        let r = trainer.train(images: b.images, labels: b.labels, arch: a)
                        guard r.loss.isFinite else { throw UserError("stand-alone training of \(a) diverged (loss \(r.loss))") }
                    }
                }
                let acc = ArchitectureEvaluator(network: net).evaluate(arch: a, loader: evalLoader).accuracy
                inherited.append(s)
                standalone.append(acc)
                let macs = config.space.cost(a).macs
                rows.append(["arch": a.description, "macs": macs, "inherited_score": s, "standalone_accuracy": acc])
                print(String(format: "   %.4f      %.4f   %6.3f  %@", s, acc, Double(macs) / 1e6, a.description))
                logLine("\(i + 1)/\(samples) done (\(Int(Date().timeIntervalSince(start))) s)")
            }
            let tau = RankCorrelation.kendallTau(inherited, standalone)
            let rho = RankCorrelation.spearman(inherited, standalone)
            func show(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "undefined (a score is constant)" }
            print("Kendall tau \(show(tau)), Spearman rho \(show(rho)) over \(samples) architectures (\(Int(Date().timeIntervalSince(start))) s)")
            func json(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
            try AtomicFile.writeJSON(["kendall_tau": json(tau), "spearman_rho": json(rho), "samples": samples, "standalone_epochs": epochs,
                                      "spread": spread, "seed": seed,
                                      "train_images": train.count, "validation_images": validation.count,
                                      "supernet_checkpoint": checkpoint, "architectures": rows],
                                     to: dir.file("correlate.json"))
        }
    }
}
